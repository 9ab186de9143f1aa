"""Refresh tokens: rotation, reuse detection, a grace window for lost responses, a per-family throttle.

A login (with REFRESH_TOKENS on) starts a *family*: one row in `refresh_tokens` per link of the rotation
chain, each single-use. Presenting the live link returns a new pair (access token + child refresh token)
and kills the old access token. The plain text is `<id>|<secret>`; a row keeps only sha256(secret).

Single use without locks, the same on SQLite, PostgreSQL and MariaDB: the winner is the request whose
conditional `UPDATE ... SET used_at WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL` changed one
row; every other request for that token sees it used. What a used token gets depends on when:

- within REFRESH_REUSE_GRACE_SECONDS of its use, while its child is still unused: the *same* child pair
  (the winner leaves it in `handoff`, encrypted with APP_KEY). So two concurrent refreshes, or a client
  retrying after a lost response, yield exactly one new pair.
- later (or when the child has been used or revoked since): reuse, the signature of a stolen token. The
  whole family is revoked, with every access token it issued, and the answer is 401.

The `handoff` is useful only inside the grace window and is cleared once it has passed: by a timer in the
process that wrote it, on the next rotation of the family, and on any later presentation. With a grace of
0 no handoff is ever written, and any second presentation counts as reuse (strict mode).

Lifetimes: access tokens ACCESS_TOKEN_MINUTES; refresh tokens REFRESH_TOKEN_DAYS, or REMEMBER_ME_MINUTES
for a remember-me login, renewed with each rotation (an active client stays signed in; an idle one is
signed out when its last refresh token expires). The token name and abilities of the login travel down
the chain, so a refresh never widens what the session may do even after its access token was pruned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sanctum_py.core.access_tokens import AccessTokens, NewAccessToken, PasswordChanged
from sanctum_py.core.encrypter import DecryptException, Encrypter
from sanctum_py.core.errors import AuthError, ErrorCode, throttled
from sanctum_py.core.events import NO_EVENTS, AuthEvents
from sanctum_py.core.jwt_tokens import JwtType, looks_like_jwt
from sanctum_py.core.login import Session
from sanctum_py.core.ratelimit import RateLimiter
from sanctum_py.core.tokens import generate_secret, hash_secret, hashes_match
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, RefreshToken, User, decode_abilities
from sanctum_py.db.secret_rows import find_by_plain_text
from sanctum_py.db.token_rows import db_values, insert_if_password

log = logging.getLogger("sanctum_py.refresh")

HANDOFF_WAIT_SECONDS = 2.0  # how long a loser waits for the winner's pair
HANDOFF_POLL_SECONDS = 0.05


def invalid_refresh_token() -> AuthError:
    """Unknown, malformed, expired, revoked or reused: the client must sign in again."""
    return AuthError(ErrorCode.INVALID_REFRESH_TOKEN)


# Non-rotating refreshes (renew) per family per REFRESH_THROTTLE_SECONDS.
RENEWALS_PER_WINDOW = 6


@dataclass
class RefreshTokens:
    tokens: AccessTokens
    limiter: RateLimiter
    encrypter: Encrypter
    access_minutes: int = 60
    refresh_days: int = 7
    remember_minutes: int = 60 * 24 * 30
    grace_seconds: int = 10
    throttle_seconds: int = 30
    default_token_name: str = "auth_token"
    events: AuthEvents = NO_EVENTS

    def __post_init__(self) -> None:
        self._timers: set[asyncio.Task[None]] = set()

    # --- issuing (RefreshIssuer, called by TokenSessions at login/register) ------------------------------

    async def issue(
        self,
        user: User,
        access: NewAccessToken,
        *,
        remember: bool,
        password_hash: str | None = None,
        as_jwt: bool = False,
    ) -> str:
        lifetime = timedelta(minutes=self.remember_minutes) if remember else timedelta(days=self.refresh_days)
        plain_text, _ = await self._create(
            user_id=user.id,
            family=secrets.token_hex(16),
            parent_id=None,
            access=access,
            lifetime=lifetime,
            password_hash=password_hash,
            as_jwt=as_jwt,
        )
        return plain_text

    async def _create(
        self,
        *,
        user_id: int,
        family: str,
        parent_id: int | None,
        access: NewAccessToken,
        lifetime: timedelta,
        password_hash: str | None = None,
        as_jwt: bool = False,
    ) -> tuple[str, int]:
        """The refresh row's plain text and id; with `password_hash`, written only while it is the user's
        password (a login racing a reset), else PasswordChanged."""
        secret = generate_secret(self.tokens.prefix)
        now = utc_now()
        given = (
            user_id,
            family,
            parent_id,
            access.token.id,
            access.token.name,
            access.token.abilities,
            hash_secret(secret),
            now + lifetime,
            now,
            now,
        )
        if password_hash is None:
            row_id = (await RefreshToken.create(**dict(zip(_CREATE_COLUMNS, given, strict=True)))).id
        else:
            values = db_values(RefreshToken, _CREATE_COLUMNS, given)
            pinned = await insert_if_password(RefreshToken, values, user_id=user_id, password_hash=password_hash)
            if pinned is None:
                raise PasswordChanged
            row_id = pinned
        plain_text = f"{row_id}|{secret}"
        if as_jwt:
            # As for access JWTs: the row exists before its id can be signed into `jti`, then takes the
            # JWT's hash; the random secret it was inserted under is never handed out.
            codec = self.tokens.jwt
            if codec is None:
                raise ValueError("a JWT refresh token needs a JwtCodec")
            plain_text = codec.encode(
                subject=user_id, token_id=row_id, type=JwtType.REFRESH, issued_at=now, expires_at=now + lifetime
            )
            await RefreshToken.filter(id=row_id).update(token=hash_secret(plain_text))
        self.events.tokens_issued("refresh")
        return plain_text, row_id

    # --- rotating ---------------------------------------------------------------------------------------

    async def rotate(self, presented: str) -> Session:
        """A new pair for a live refresh token; the same pair again within the grace window. A JWT
        refresh token is rotated into a JWT pair, a Sanctum-style one into a Sanctum-style pair."""
        row = await self._find(presented)
        as_jwt = looks_like_jwt(presented)
        now = utc_now()
        if row.revoked_at is not None or row.expires_at <= now:
            raise invalid_refresh_token()
        user = await User.get_or_none(id=row.user_id)
        if user is None or not user.is_active:
            raise invalid_refresh_token()
        if row.used_at is None:
            retry_after = await self._throttled(row.family)
            if retry_after is not None:
                # The winner of a concurrent refresh marks the token used before it counts the
                # rotation, so a refusal for a token that is now used belongs to the grace path.
                row = await self._reload(row.id)
                if row.used_at is None:
                    raise throttled(1, retry_after)
            elif await self._claim(row, now):
                return await self._mint(row, user, now, as_jwt=as_jwt)
            else:
                row = await self._reload(row.id)
        return await self._replayed(row, user)

    async def _find(self, presented: str) -> RefreshToken:
        row = await self.find(presented)
        if row is None:
            raise invalid_refresh_token()
        return row

    async def find(self, presented: str) -> RefreshToken | None:
        """The row a refresh token names (`<id>|<secret>`, or a JWT whose signature and `exp` hold and
        whose `jti` is the row), its hash compared in constant time; None for anything else. Whether the
        row is still live (revoked, used, expired) is the caller's to check."""
        if not looks_like_jwt(presented):
            return await find_by_plain_text(RefreshToken, presented)
        codec = self.tokens.jwt
        claims = codec.decode(presented, JwtType.REFRESH) if codec is not None else None
        if claims is None:
            return None
        row = await RefreshToken.get_or_none(id=claims.token_id)
        if row is None or row.user_id != claims.subject or not hashes_match(row.token, presented):
            return None
        return row

    @staticmethod
    async def _reload(row_id: int) -> RefreshToken:
        row = await RefreshToken.get_or_none(id=row_id)
        if row is None:
            raise invalid_refresh_token()
        return row

    async def _throttled(self, family: str) -> int | None:
        if self.throttle_seconds <= 0:
            return None
        return await self.limiter.blocked_for(_throttle_key(family), 1)

    @staticmethod
    async def _claim(row: RefreshToken, now: datetime) -> bool:
        """The single-use gate: exactly one request changes the row."""
        claimed = await RefreshToken.filter(id=row.id, used_at=None, revoked_at=None).update(
            used_at=now, updated_at=now
        )
        return claimed == 1

    async def _mint(self, parent: RefreshToken, user: User, now: datetime, *, as_jwt: bool = False) -> Session:
        """The winner: a new access token and child refresh token, the old access token revoked."""
        if self.throttle_seconds > 0:
            await self.limiter.hit(_throttle_key(parent.family), self.throttle_seconds)
        abilities = decode_abilities(parent.abilities) if parent.abilities is not None else None
        access_lifetime = timedelta(minutes=self.access_minutes)
        # Not pinned to the password as a login is: a reset revokes the family, and the check of the
        # parent below catches a reset that lands while this pair is made. (With
        # REVOKE_TOKENS_ON_PASSWORD_RESET=false sessions outlive resets on purpose.)
        access = await self.tokens.issue(
            user, parent.name or self.default_token_name, abilities, expires_at=now + access_lifetime, as_jwt=as_jwt
        )
        refresh_plain, refresh_id = await self._create(
            user_id=user.id,
            family=parent.family,
            parent_id=parent.id,
            access=access,
            lifetime=_lifetime(parent, self.refresh_days),
            as_jwt=as_jwt,
        )
        if self.grace_seconds > 0:
            handoff = {
                "access_token": access.plain_text,
                "refresh_token": refresh_plain,
                "expires_at": int((now + access_lifetime).timestamp()),
                # The rows, since a JWT's plain text does not start with `<id>|`.
                "access_token_id": access.token.id,
                "refresh_token_id": refresh_id,
            }
            await RefreshToken.filter(id=parent.id, revoked_at=None).update(
                handoff=self.encrypter.encrypt(json.dumps(handoff))
            )
            self._clear_later(parent.id)
        if parent.access_token_id is not None:
            await self.tokens.revoke(parent.access_token_id)
        # A reuse detected while this pair was being made may have revoked the family before the child
        # existed: then the child and its access token must die too. The race is still won (one 200),
        # but the pair it carries is as dead as the rest of the family.
        if (await self._reload(parent.id)).revoked_at is not None:
            await self.revoke_family(parent.family)
        await self._clear_stale_handoffs(parent.family, now)
        return Session(
            user,
            access.plain_text,
            refresh_token=refresh_plain,
            expires_in=self.access_minutes * 60,
            expires_at=access.token.expires_at,
            issued_at=access.token.created_at,
            access_token_id=access.token.id,
        )

    async def _replayed(self, row: RefreshToken, user: User) -> Session:
        """A used token: the grace handoff, or reuse detection."""
        if row.revoked_at is not None or row.used_at is None:
            raise invalid_refresh_token()
        if utc_now() - row.used_at >= timedelta(seconds=self.grace_seconds):
            await self.revoke_family(row.family)
            log.warning("refresh token %s reused after rotation: family revoked", row.id)
            raise invalid_refresh_token()
        deadline = time.monotonic() + HANDOFF_WAIT_SECONDS
        while row.handoff is None:
            if time.monotonic() >= deadline:
                raise invalid_refresh_token()  # the winner never finished: nothing to hand over
            await asyncio.sleep(HANDOFF_POLL_SECONDS)
            row = await self._reload(row.id)
            if row.revoked_at is not None:
                raise invalid_refresh_token()
        try:
            pair = json.loads(self.encrypter.decrypt(row.handoff))
            access_plain, refresh_plain = str(pair["access_token"]), str(pair["refresh_token"])
            access_expires = datetime.fromtimestamp(int(pair["expires_at"]), UTC)
            child_id = int(pair.get("refresh_token_id") or refresh_plain.split("|", 1)[0])
            access_id = int(pair.get("access_token_id") or access_plain.split("|", 1)[0])
        except (DecryptException, ValueError, KeyError, TypeError):
            log.error("refresh token %s: unreadable handoff (APP_KEY changed?)", row.id)
            raise invalid_refresh_token() from None
        child = await RefreshToken.get_or_none(id=child_id)
        if child is None or child.revoked_at is not None:
            raise invalid_refresh_token()
        if child.used_at is not None:  # the chain moved on: whoever presents the parent is not its owner
            await self.revoke_family(row.family)
            log.warning("refresh token %s reused after its child was used: family revoked", row.id)
            raise invalid_refresh_token()
        expires_in = max(int((access_expires - utc_now()).total_seconds()), 0)
        return Session(
            user,
            access_plain,
            refresh_token=refresh_plain,
            expires_in=expires_in,
            expires_at=access_expires,
            issued_at=access_expires - timedelta(minutes=self.access_minutes),
            access_token_id=access_id,
        )

    # --- renewing without rotation (the envelope dialect, seed 003) -------------------------------------

    async def renew(self, presented: str) -> Session:
        """A new access token for the same session, the refresh token staying valid: for clients that
        never receive a new refresh token (seed 003). The row is re-pointed at the new access token and the
        previous one is revoked, so a logout with the newest token still ends the family, and a family
        never has more than one live access token. Throttled per family like rotation, but with a budget of
        RENEWALS_PER_WINDOW per REFRESH_THROTTLE_SECONDS: such a client cannot swap its refresh token for a
        fresh one, so two refreshes in a row (two tabs, a retry) must both work; a loop still stops. A token
        already spent by rotation (another dialect's refresh) takes the rotation's path: the grace handoff,
        else reuse detection."""
        row = await self._find(presented)
        now = utc_now()
        if row.revoked_at is not None or row.expires_at <= now:
            raise invalid_refresh_token()
        user = await User.get_or_none(id=row.user_id)
        if user is None or not user.is_active:
            raise invalid_refresh_token()
        if row.used_at is not None:
            return await self._replayed(row, user)
        if self.throttle_seconds > 0:
            key = _renew_key(row.family)
            retry_after = await self.limiter.blocked_for(key, RENEWALS_PER_WINDOW)
            if retry_after is not None:
                raise throttled(RENEWALS_PER_WINDOW, retry_after)
            await self.limiter.hit(key, self.throttle_seconds)
        abilities = decode_abilities(row.abilities) if row.abilities is not None else None
        access_lifetime = timedelta(minutes=self.access_minutes)
        access = await self.tokens.issue(
            user, row.name or self.default_token_name, abilities, expires_at=now + access_lifetime
        )
        # Conditional on the access token we read: of two concurrent renewals only one re-points the row;
        # the other's token would belong to no session (a logout could not end it), so it is withdrawn.
        # The loser's refresh token is still good: it is told to retry (as a throttle), not to sign in again.
        moved = await RefreshToken.filter(
            id=row.id, access_token_id=row.access_token_id, used_at=None, revoked_at=None
        ).update(access_token_id=access.token.id, updated_at=now)
        if moved != 1:
            await self.tokens.revoke(access.token.id)
            current = await self._reload(row.id)
            if current.revoked_at is not None or current.used_at is not None:
                raise invalid_refresh_token()
            raise throttled(1, 1)
        if row.access_token_id is not None:
            await self.tokens.revoke(row.access_token_id)
        if (await self._reload(row.id)).revoked_at is not None:  # a logout or reset landed meanwhile
            await self.tokens.revoke(access.token.id)
            raise invalid_refresh_token()
        return Session(
            user,
            access.plain_text,
            refresh_token=None,
            expires_in=self.access_minutes * 60,
            expires_at=access.token.expires_at,
            issued_at=access.token.created_at,
        )

    # --- revoking ---------------------------------------------------------------------------------------

    async def revoke_family(self, family: str) -> None:
        """Revoke every refresh token of the family and every access token they issued. Repeated until
        a pass finds nothing left, so a child committed by a rotation in flight is caught too."""
        while True:
            now = utc_now()
            changed = await RefreshToken.filter(family=family, revoked_at=None).update(
                revoked_at=now, updated_at=now, handoff=None
            )
            if not changed:
                break
            self.events.tokens_revoked("refresh", changed)
        # cast: Tortoise types values_list(..., flat=True) as tuples; with one field it gives the values.
        access_ids = cast(
            "list[int]",
            await RefreshToken.filter(family=family, access_token_id__isnull=False).values_list(
                "access_token_id", flat=True
            ),
        )
        if not access_ids:
            return
        alive = cast(
            "list[int]", await PersonalAccessToken.filter(id__in=list(set(access_ids))).values_list("id", flat=True)
        )
        await self.tokens.revoke_many(alive)

    async def revoke_for_access_token(self, user_id: int, access_token_id: int) -> None:
        """Logout: the session the access token belongs to ends, its refresh token included."""
        families = cast(
            "list[str]",
            await RefreshToken.filter(user_id=user_id, access_token_id=access_token_id).values_list(
                "family", flat=True
            ),
        )
        for family in set(families):
            await self.revoke_family(family)

    async def revoke_all_for(self, user_id: int, except_access_token_id: int | None = None) -> None:
        """Every session of a user (a password reset, logout from all devices), or all but the one
        the given access token belongs to."""
        families = set(
            cast(
                "list[str]",
                await RefreshToken.filter(user_id=user_id, revoked_at=None).values_list("family", flat=True),
            )
        )
        if except_access_token_id is not None:
            kept = cast(
                "list[str]",
                await RefreshToken.filter(user_id=user_id, access_token_id=except_access_token_id).values_list(
                    "family", flat=True
                ),
            )
            families -= set(kept)
        for family in families:
            await self.revoke_family(family)

    # --- the handoff's lifetime -------------------------------------------------------------------------

    def _clear_later(self, row_id: int) -> None:
        async def clear() -> None:
            await asyncio.sleep(self.grace_seconds + 1)
            try:
                await RefreshToken.filter(id=row_id).update(handoff=None)
            except Exception:  # the next rotation or presentation clears it anyway
                log.debug("could not clear the handoff of refresh token %s", row_id, exc_info=True)

        task = asyncio.create_task(clear())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _clear_stale_handoffs(self, family: str, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.grace_seconds)
        await RefreshToken.filter(family=family, used_at__lt=cutoff, handoff__isnull=False).update(handoff=None)

    async def close(self) -> None:
        for task in list(self._timers):
            task.cancel()
        if self._timers:
            await asyncio.gather(*self._timers, return_exceptions=True)


# The columns _create writes, in the order of its values.
_CREATE_COLUMNS = (
    "user_id",
    "family",
    "parent_id",
    "access_token_id",
    "name",
    "abilities",
    "token",
    "expires_at",
    "created_at",
    "updated_at",
)


def _throttle_key(family: str) -> str:
    return f"refresh:{family}"


def _renew_key(family: str) -> str:
    return f"refresh-renew:{family}"


def _lifetime(parent: RefreshToken, default_days: int) -> timedelta:
    """A child lives as long as its family was granted at login (refresh days, or remember-me)."""
    if parent.created_at is not None and parent.expires_at > parent.created_at:
        return parent.expires_at - parent.created_at
    return timedelta(days=default_days)
