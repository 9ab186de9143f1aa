"""core/jwt_tokens.py: the header and claims we sign, the derived key, pinned algorithms, the JWKS."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sanctum_py.core.jwt_tokens import JwtCodec, JwtType, derive_hs256_key, looks_like_jwt

APP_KEY = b"k" * 32
NOW = datetime.now(UTC).replace(microsecond=0)


def _encode(codec: JwtCodec, type: JwtType = JwtType.ACCESS, lifetime: timedelta = timedelta(hours=1)) -> str:
    return codec.encode(subject=7, token_id=42, type=type, issued_at=NOW, expires_at=NOW + lifetime)


def _segment(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_hs256_header_is_the_seeds_and_claims_name_the_row() -> None:
    token = _encode(JwtCodec(APP_KEY))
    assert token.startswith("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.")  # the seed's example prefix, exactly
    assert looks_like_jwt(token)
    claims = _segment(token, 1)
    assert claims == {
        "sub": "7",
        "jti": "42",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "typ": "access",
    }
    decoded = JwtCodec(APP_KEY).decode(token, JwtType.ACCESS)
    assert decoded is not None and (decoded.subject, decoded.token_id) == (7, 42)


def test_the_key_is_derived_never_the_raw_app_key() -> None:
    token = _encode(JwtCodec(APP_KEY))
    assert derive_hs256_key(APP_KEY) != APP_KEY
    try:
        jwt.decode(token, APP_KEY, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("the raw APP_KEY verified a token")
    assert jwt.decode(token, derive_hs256_key(APP_KEY), algorithms=["HS256"])["jti"] == "42"


def test_refusals_wrong_type_expired_other_key_none_alg_and_garbage() -> None:
    codec = JwtCodec(APP_KEY)
    assert codec.decode(_encode(codec, JwtType.REFRESH), JwtType.ACCESS) is None
    assert codec.decode(_encode(codec, lifetime=timedelta(seconds=-5)), JwtType.ACCESS) is None
    assert codec.decode(_encode(JwtCodec(b"x" * 32)), JwtType.ACCESS) is None
    unsigned = jwt.encode({"sub": "7", "jti": "42", "iat": 1, "exp": 2**40, "typ": "access"}, "", algorithm="none")
    assert codec.decode(unsigned, JwtType.ACCESS) is None
    for garbage in ("", "eyJ.eyJ.x", "1|abc", "eyJhbGciOiJIUzI1NiJ9.e30.", "a.b.c"):
        assert codec.decode(garbage, JwtType.ACCESS) is None
    assert not looks_like_jwt("12|" + "a" * 48)


def test_eddsa_option_signs_with_the_private_key_and_publishes_the_public_one() -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    codec = JwtCodec(APP_KEY, algorithm="EdDSA", private_key=pem)
    token = _encode(codec)
    header = _segment(token, 0)
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT" and header["kid"] == codec.key_id
    (key,) = codec.jwks()["keys"]
    assert key["kty"] == "OKP" and key["kid"] == codec.key_id and "d" not in key  # never the private part
    public = jwt.PyJWK(key).key
    assert jwt.decode(token, public, algorithms=["EdDSA"])["jti"] == "42"  # verifiable offline from the JWKS
    assert JwtCodec(APP_KEY).jwks() == {"keys": []}  # HS256: a shared secret is never published
