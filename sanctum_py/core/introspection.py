"""Token introspection (RFC 7662) for other services: is this access token good right now, and whose is it?

The answer comes from the same guard every route uses (`AccessTokens.authenticate`, with its token cache),
so introspection says exactly what a request to this service would meet: revoked, expired, unknown,
malformed tokens and tokens of deactivated users are all just "not active", and nothing tells them apart
(RFC 7662 §2.2: the caller learns no more than that). Refresh tokens, 2FA challenge tokens and reset tokens
are never active here: they live in other tables, grant no access to anything but their one endpoint, and
a resource server that accepted one would be wrong to.
"""

from __future__ import annotations

from dataclasses import dataclass

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.gateway_clients import ClientCredentials, GatewayClients
from sanctum_py.core.jwt_tokens import JwtType, looks_like_jwt


class InvalidClient(Exception):
    """The caller is not a configured introspection client (RFC 6749 §5.2 `invalid_client`)."""


@dataclass(frozen=True, slots=True)
class ActiveToken:
    """What a resource server may learn about a good access token."""

    user_id: int
    username: str
    role: str
    token_id: int
    abilities: tuple[str, ...]
    expires_at: int | None  # Unix seconds; None for a Sanctum token that never expires
    issued_at: int | None  # Unix seconds; known for JWTs (their `iat`), not kept in the token cache otherwise


class Introspection:
    def __init__(self, clients: GatewayClients, tokens: AccessTokens) -> None:
        self.clients = clients
        self._tokens = tokens

    @property
    def enabled(self) -> bool:
        return self.clients.enabled

    async def introspect(self, client: ClientCredentials | None, address: str, token: str | None) -> ActiveToken | None:
        """The token's details when it is active, None when it is not (for any reason).

        The client is checked first, so nobody unauthenticated learns even whether the request was well
        formed: InvalidClient, or TOO_MANY_ATTEMPTS for an address that has guessed too often. Then a
        missing `token` is INVALID_INPUT (the request, not the token, is wrong)."""
        if await self.clients.authenticate(client, address) is None:
            raise InvalidClient
        if token is None:
            raise AuthError(ErrorCode.INVALID_INPUT, fields=("token",))
        verified = await self._tokens.authenticate(token)
        if verified is None:
            return None
        return ActiveToken(
            user_id=verified.user.id,
            username=verified.user.username,
            role=verified.user.role,
            token_id=verified.token_id,
            abilities=tuple(verified.abilities),
            expires_at=int(verified.expires_at.timestamp()) if verified.expires_at is not None else None,
            issued_at=self._issued_at(token),
        )

    def _issued_at(self, token: str) -> int | None:
        """A JWT's `iat`. Its signature is checked again here (microseconds for HS256): cheap, and the
        claims are then ours whatever path the guard took (a cache hit checks only the hash)."""
        codec = self._tokens.jwt
        if codec is None or not looks_like_jwt(token):
            return None
        claims = codec.decode(token, JwtType.ACCESS)
        return claims.issued_at if claims is not None else None
