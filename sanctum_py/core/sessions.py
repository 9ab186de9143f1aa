"""Starting a signed-in session: the access token, and its refresh token when those are enabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sanctum_py.core.access_tokens import AccessTokens, NewAccessToken, PasswordChanged
from sanctum_py.core.login import Session, SessionKind
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User


class RefreshIssuer(Protocol):
    async def issue(
        self,
        user: User,
        access: NewAccessToken,
        *,
        remember: bool,
        password_hash: str | None = None,
        as_jwt: bool = False,
    ) -> str:
        """A new refresh token (plain text) for a new login, bound to its access token; with
        `password_hash`, only while it is the user's password (else PasswordChanged)."""
        ...


@dataclass(frozen=True)
class TokenSessions:
    """Sanctum's createToken plus lifetimes, by the kind of session the dialect asked for:

    - PLAIN: one token with no lifetime of its own (SANCTUM_EXPIRATION still applies);
    - SANCTUM: one token, living TOKEN_MINUTES (REMEMBER_ME_MINUTES for `remember_me`) when set, else forever;
    - REFRESHABLE: a short ACCESS_TOKEN_MINUTES access token, and a refresh token that carries the session
      (and `remember_me`)."""

    tokens: AccessTokens
    refresh: RefreshIssuer
    remember_minutes: int
    access_minutes: int
    token_minutes: int | None = None  # lifetime of a plain login's token; None = forever (Sanctum)

    async def start(
        self,
        user: User,
        *,
        kind: SessionKind,
        name: str,
        abilities: list[str] | None,
        remember: bool,
        password_hash: str | None = None,
    ) -> Session:
        """The session's tokens. `password_hash`, given by a login, is the hash its password was checked
        against: every row is written only while it is still the user's (PasswordChanged otherwise)."""
        lifetime = self._lifetime(kind, remember)
        expires_at = utc_now() + lifetime if lifetime is not None else None
        as_jwt = kind is SessionKind.JWT
        access = await self.tokens.issue(
            user, name, abilities, expires_at=expires_at, password_hash=password_hash, as_jwt=as_jwt
        )
        row = access.token
        if kind is not SessionKind.REFRESHABLE and not as_jwt:
            return Session(
                user,
                access.plain_text,
                expires_in=_seconds(lifetime),
                expires_at=row.expires_at,
                issued_at=row.created_at,
            )
        try:
            refresh_token = await self.refresh.issue(
                user, access, remember=remember, password_hash=password_hash, as_jwt=as_jwt
            )
        except PasswordChanged:
            await self.tokens.revoke(access.token.id)  # the reset won between the two inserts
            raise
        return Session(
            user,
            access.plain_text,
            refresh_token=refresh_token,
            expires_in=_seconds(lifetime),
            expires_at=row.expires_at,
            issued_at=row.created_at,
            access_token_id=row.id,
        )

    def _lifetime(self, kind: SessionKind, remember: bool) -> timedelta | None:
        if kind in (SessionKind.REFRESHABLE, SessionKind.JWT):
            return timedelta(minutes=self.access_minutes)  # the refresh token carries remember_me
        if kind is SessionKind.PLAIN or self.token_minutes is None:
            return None
        return timedelta(minutes=self.remember_minutes if remember else self.token_minutes)


def _seconds(lifetime: timedelta | None) -> int | None:
    return int(lifetime.total_seconds()) if lifetime is not None else None
