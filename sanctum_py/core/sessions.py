"""Starting a signed-in session: the access token, and its refresh token when those are enabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sanctum_py.core.access_tokens import AccessTokens, NewAccessToken, PasswordChanged
from sanctum_py.core.login import Session
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User


class RefreshIssuer(Protocol):
    async def issue(
        self, user: User, access: NewAccessToken, *, remember: bool, password_hash: str | None = None
    ) -> str:
        """A new refresh token (plain text) for a new login, bound to its access token; with
        `password_hash`, only while it is the user's password (else PasswordChanged)."""
        ...


@dataclass
class TokenSessions:
    """Sanctum's createToken plus lifetimes. With refresh tokens off, tokens never expire (Sanctum)
    unless TOKEN_MINUTES is set, and `remember_me` then picks the longer REMEMBER_ME_MINUTES; with
    refresh tokens on, access tokens are short-lived and the refresh token carries the session."""

    tokens: AccessTokens
    remember_minutes: int
    token_minutes: int | None = None  # lifetime of a plain login's token; None = forever (Sanctum)
    access_minutes: int | None = None  # set when refresh tokens are enabled
    refresh: RefreshIssuer | None = None

    async def start(
        self,
        user: User,
        *,
        name: str,
        abilities: list[str] | None,
        remember: bool,
        password_hash: str | None = None,
    ) -> Session:
        """The session's tokens. `password_hash`, given by a login, is the hash its password was checked
        against: every row is written only while it is still the user's (PasswordChanged otherwise)."""
        lifetime = self._lifetime(remember)
        expires_at = utc_now() + lifetime if lifetime is not None else None
        access = await self.tokens.issue(user, name, abilities, expires_at=expires_at, password_hash=password_hash)
        if self.refresh is None:
            return Session(user, access.plain_text, expires_in=_seconds(lifetime))
        try:
            refresh_token = await self.refresh.issue(user, access, remember=remember, password_hash=password_hash)
        except PasswordChanged:
            await self.tokens.revoke(access.token.id)  # the reset won between the two inserts
            raise
        return Session(user, access.plain_text, refresh_token=refresh_token, expires_in=_seconds(lifetime))

    def _lifetime(self, remember: bool) -> timedelta | None:
        if self.access_minutes is not None:
            return timedelta(minutes=self.access_minutes)  # the refresh token carries remember_me
        if self.token_minutes is None:
            return None
        return timedelta(minutes=self.remember_minutes if remember else self.token_minutes)


def _seconds(lifetime: timedelta | None) -> int | None:
    return int(lifetime.total_seconds()) if lifetime is not None else None
