"""JWT access and refresh tokens that stay revocable: every JWT is backed by its database row.

A JWT here is only another *plain text* for a row of `personal_access_tokens` (type `access`) or
`refresh_tokens` (type `refresh`): the row keeps sha256 of the whole JWT in `token`, exactly as it keeps
sha256 of a Sanctum secret, and `jti` is the row's id. So the guard finds a JWT access token by its hash
(no `<id>|` needed), logout deletes the row and the JWT is dead at once on every dialect, and refresh
rotation keeps its reuse detection. The signature and `exp` are checked only when the row is read from
the database (a cache miss): a cached entry was verified when it was loaded, and its key is the hash of
this very JWT, so the `/api/me` hot path does no extra work for any token.

Keys: HS256 by default, with a key derived from APP_KEY (HMAC-SHA256 of a fixed label, so the raw
APP_KEY, which also encrypts data, never signs anything); or an asymmetric algorithm (RS256, ES256,
EdDSA) with a configured private key, whose public half is served as a JWKS for offline verification.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

# Why a label: APP_KEY also encrypts 2FA secrets and refresh handoffs; a derived key keeps a signing
# key (which HS256 verifiers elsewhere would need) from ever being the encryption key.
KEY_LABEL = b"sanctum_py/jwt-signing-key/v1"
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"})


class JwtType(enum.StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


def looks_like_jwt(value: str) -> bool:
    """A cheap shape test (no decoding): every JWT we issue starts with the base64 of `{"` and has
    exactly two dots; a Sanctum token (`<id>|<secret>`) never does."""
    return value.startswith("eyJ") and value.count(".") == 2


def derive_hs256_key(app_key: bytes) -> bytes:
    return hmac.new(app_key, KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class JwtClaims:
    subject: int  # the user id
    token_id: int  # the row id (jti)
    type: JwtType
    issued_at: int
    expires_at: int


@dataclass
class JwtCodec:
    """Signs and verifies our JWTs. `private_key` (PEM) switches to the asymmetric `algorithm`."""

    app_key: bytes
    algorithm: str = "HS256"
    private_key: str | None = None
    key_id: str | None = None
    leeway_seconds: int = 0
    _signing_key: Any = field(init=False, repr=False)
    _verifying_key: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.algorithm == "HS256":
            self._signing_key = self._verifying_key = derive_hs256_key(self.app_key)
            return
        if self.algorithm not in ASYMMETRIC or not self.private_key:
            raise ValueError(f"JWT_ALGORITHM {self.algorithm!r} needs JWT_PRIVATE_KEY (PEM); HS256 needs none")
        implementation = get_default_algorithms()[self.algorithm]
        self._signing_key = implementation.prepare_key(self.private_key)
        self._verifying_key = self._signing_key.public_key()
        if self.key_id is None:
            # A stable kid: the thumbprint-like hash of the public JWK, so a rotation changes it.
            public = json.loads(implementation.to_jwk(self._verifying_key))
            digest = hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()
            self.key_id = digest[:16]

    def encode(self, *, subject: int, token_id: int, type: JwtType, issued_at: datetime, expires_at: datetime) -> str:
        payload = {
            "sub": str(subject),  # RFC 7519: a string (PyJWT rejects an integer `sub` on decode)
            "jti": str(token_id),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "typ": type.value,
        }
        # `typ` first in the header, as the seed's example token (`{"typ":"JWT","alg":"HS256"}`) has it.
        headers: dict[str, Any] = {"typ": "JWT", "alg": self.algorithm}
        if self.key_id is not None and self.algorithm != "HS256":
            headers["kid"] = self.key_id
        return jwt.encode(payload, self._signing_key, algorithm=self.algorithm, headers=headers, sort_headers=False)

    def decode(self, token: str, expected: JwtType) -> JwtClaims | None:
        """The claims of a JWT we signed, of the expected type and not expired; None otherwise (never
        raises for a bad token: a forged or foreign token is just a 401)."""
        try:
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],  # pinned: no `alg: none`, no HS256-with-the-public-key confusion
                options={"require": ["sub", "jti", "iat", "exp", "typ"]},
                leeway=self.leeway_seconds,
            )
            if claims["typ"] != expected.value:
                return None
            return JwtClaims(
                subject=int(claims["sub"]),
                token_id=int(claims["jti"]),
                type=expected,
                issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            return None

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys (empty for HS256: a shared secret is never published)."""
        if self.algorithm == "HS256":
            return {"keys": []}
        implementation = get_default_algorithms()[self.algorithm]
        key = json.loads(implementation.to_jwk(self._verifying_key))
        key.update({"kid": self.key_id, "alg": self.algorithm, "use": "sig"})
        return {"keys": [key]}
