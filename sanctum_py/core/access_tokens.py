"""Personal access tokens: issue, authenticate, revoke. Plain async Python, no HTTP.

Behaves as Sanctum's HasApiTokens::createToken + Guard + PersonalAccessToken::findToken, with two
deliberate differences: `last_used_at` is written at most once per `last_used_write_interval` per
token (Sanctum writes it on every request), and verified tokens may be served from a TokenCache.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sanctum_py.core.cache_invalidation import CacheInvalidation, LocalInvalidation
from sanctum_py.core.errors import ErrorCode
from sanctum_py.core.events import NO_EVENTS, AuthEvents
from sanctum_py.core.jwt_tokens import JwtCodec, JwtType, looks_like_jwt
from sanctum_py.core.token_cache import TokenCache, VerifiedToken
from sanctum_py.core.tokens import generate_secret, hash_secret, hashes_match, parse_token
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, User, decode_abilities
from sanctum_py.db.token_rows import insert_token, token_with_owner

log = logging.getLogger("sanctum_py.tokens")


class PasswordChanged(Exception):
    """The password a login verified is no longer the user's (a reset committed meanwhile): no token."""


@dataclass(frozen=True, slots=True)
class NewAccessToken:
    """The only place a token's plain text exists: returned once, at creation (as Sanctum's)."""

    token: PersonalAccessToken
    plain_text: str


class AccessTokens:
    def __init__(
        self,
        *,
        tokenable_type: str,
        prefix: str = "",
        expiration_minutes: int | None = None,
        last_used_interval: float = 60,
        cache: TokenCache | None = None,
        invalidation: CacheInvalidation | None = None,
        events: AuthEvents = NO_EVENTS,
        jwt: JwtCodec | None = None,
    ) -> None:
        self.tokenable_type = tokenable_type
        self.jwt = jwt
        self.events = events
        self.prefix = prefix
        self.expiration_minutes = expiration_minutes
        self.last_used_interval = last_used_interval
        self.cache = cache or TokenCache(ttl=0)
        # Every revocation goes through it: this process's entries and, with Redis, every other's.
        self.invalidation: CacheInvalidation = invalidation or LocalInvalidation(self.cache)
        self._last_used_written: dict[int, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._loading: dict[tuple[int | None, str, int], asyncio.Future[VerifiedToken | None]] = {}

    async def issue(
        self,
        user: User,
        name: str,
        abilities: list[str] | None = None,
        expires_at: datetime | None = None,
        *,
        password_hash: str | None = None,
        as_jwt: bool = False,
    ) -> NewAccessToken:
        """A new token. With `password_hash` (the hash a login verified), only while it is still the
        user's password, checked in the insert itself; PasswordChanged when it is not. With `as_jwt`, the
        plain text is a JWT whose `jti` is the row (which needs `expires_at`): see core/jwt_tokens.py."""
        secret = generate_secret(self.prefix)
        now = utc_now()
        token = await insert_token(
            tokenable_type=self.tokenable_type,
            tokenable_id=user.id,
            name=name,
            token=hash_secret(secret),
            abilities=json.dumps(abilities if abilities is not None else ["*"]),
            expires_at=expires_at,
            now=now,
            password_hash=password_hash,
        )
        if token is None:
            raise PasswordChanged
        plain_text = f"{token.id}|{secret}"
        if as_jwt:
            plain_text = await self._as_jwt(token, user.id, now, expires_at)
        self.events.tokens_issued("access")
        return NewAccessToken(token=token, plain_text=plain_text)

    async def _as_jwt(
        self, token: PersonalAccessToken, user_id: int, now: datetime, expires_at: datetime | None
    ) -> str:
        """Re-key the row to a JWT naming it: the row was inserted under a random secret nobody ever
        sees (its id, the `jti`, exists only after the insert), then its hash becomes the JWT's."""
        if self.jwt is None or expires_at is None:
            raise ValueError("a JWT access token needs a JwtCodec and an expiry")
        plain_text = self.jwt.encode(
            subject=user_id, token_id=token.id, type=JwtType.ACCESS, issued_at=now, expires_at=expires_at
        )
        token.token = hash_secret(plain_text)
        await PersonalAccessToken.filter(id=token.id).update(token=token.token)
        return plain_text

    async def authenticate(self, presented: str | None) -> VerifiedToken | None:
        """The user and token behind a bearer value, or None for anything that must be a 401."""
        return self.cached(presented) or await self.verify(presented)

    async def verify(self, presented: str | None) -> VerifiedToken | None:
        """`authenticate` past the cache (the caller found nothing there): the database decides."""
        parsed = parse_token(presented) if presented is not None else None
        if parsed is None:
            return None
        token_hash = hash_secret(parsed.secret)
        verified = await asyncio.shield(self._start_load(parsed.token_id, parsed.secret, token_hash))
        if verified is None:
            return None
        self._touch(verified, time.monotonic())
        return verified

    def cached(self, presented: str | None) -> VerifiedToken | None:
        """`authenticate`'s answer when the cache holds it, without a coroutine (the request path of a
        busy token); None means: ask `verify`."""
        if presented is None or not self.cache.enabled:
            return None
        parsed = parse_token(presented)
        if parsed is None:
            return None
        token_hash = hash_secret(parsed.secret)
        now = time.monotonic()
        cached = self.cache.get(token_hash, now)
        if cached is None or (parsed.token_id is not None and parsed.token_id != cached.token_id):
            return None
        if cached.expires_at is not None and self._expired(cached.expires_at):
            self.cache.forget_token(cached.token_id)
            return None
        if self.cache.is_aging(cached, now):
            # Reload before the entry lapses, so a busy token never makes every in-flight request
            # miss at once; the answer stays the cached one until the reload lands.
            self._start_load(parsed.token_id, parsed.secret, token_hash)
        last = self._last_used_written.get(cached.token_id)
        if last is None or now - last >= self.last_used_interval:  # _touch's test, without its call
            self._touch(cached, now)
        return cached

    async def refusal(self, presented: str | None) -> ErrorCode:
        """Why `authenticate` refused this value: TOKEN_EXPIRED for a genuine token whose time is up (a
        wire may tell its client to sign in again), else UNAUTHENTICATED. Read only after a refusal, so
        the request path of a good token never pays for it."""
        parsed = parse_token(presented) if presented is not None else None
        if parsed is None:
            return ErrorCode.UNAUTHENTICATED
        found = await token_with_owner(parsed.token_id, hash_secret(parsed.secret))
        if found is None:
            return ErrorCode.UNAUTHENTICATED
        row, user = found
        genuine = (parsed.token_id is None or hashes_match(row.token, parsed.secret)) and (
            row.tokenable_type == self.tokenable_type and user.is_active
        )
        return (
            ErrorCode.TOKEN_EXPIRED
            if genuine and self._expired(self._effective_expiry(row))
            else ErrorCode.UNAUTHENTICATED
        )

    def _start_load(self, token_id: int | None, secret: str, token_hash: str) -> asyncio.Future[VerifiedToken | None]:
        """One database lookup per token at a time: concurrent misses share it (no stampede).

        Only while the cache is on and trusted, i.e. while every revocation reaches this process: a
        lookup is shared only by requests that arrived before any revocation since it started (the
        generation is part of the key). Otherwise another process may revoke at any moment without
        this one hearing of it, so every request reads the database itself."""
        generation = self.cache.generation
        if not self.cache.enabled or time.monotonic() >= self.cache.trusted_until:
            return asyncio.ensure_future(self._load(token_id, secret, token_hash))
        key = (token_id, token_hash, generation)
        running = self._loading.get(key)
        if running is not None:
            return running

        async def load() -> VerifiedToken | None:
            try:
                verified = await self._load(token_id, secret, token_hash)
                if verified is not None:
                    self.cache.put(verified, loaded_at_generation=generation)
                return verified
            finally:
                self._loading.pop(key, None)

        task = asyncio.ensure_future(load())
        self._loading[key] = task
        # A background refresh nobody awaits must not log "exception never retrieved".
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def _load(self, token_id: int | None, secret: str, token_hash: str) -> VerifiedToken | None:
        found = await token_with_owner(token_id, token_hash)
        if found is None:
            return None
        row, user = found
        if token_id is not None and not hashes_match(row.token, secret):
            return None
        if token_id is None and looks_like_jwt(secret) and not self._jwt_names(secret, row.id, user.id):
            return None
        if row.tokenable_type != self.tokenable_type:
            return None
        expires_at = self._effective_expiry(row)
        if self._expired(expires_at):
            return None
        if not user.is_active:  # a deactivated account's tokens stop working
            return None
        return VerifiedToken(
            token_id=row.id,
            token_hash=row.token,
            user=user,
            abilities=decode_abilities(row.abilities),
            expires_at=expires_at,
            last_used_at=row.last_used_at,
        )

    def _jwt_names(self, presented: str, row_id: int, user_id: int) -> bool:
        """A JWT found by its hash must also carry our valid signature, be unexpired, and name this row
        and user: checked on a database read only, never on a cache hit (see core/jwt_tokens.py)."""
        claims = self.jwt.decode(presented, JwtType.ACCESS) if self.jwt is not None else None
        return claims is not None and claims.token_id == row_id and claims.subject == user_id

    def _effective_expiry(self, row: PersonalAccessToken) -> datetime | None:
        """Sanctum checks both: the global expiration from created_at, and the token's expires_at."""
        candidates = [row.expires_at] if row.expires_at else []
        if self.expiration_minutes and row.created_at is not None:
            candidates.append(row.created_at + timedelta(minutes=self.expiration_minutes))
        elif self.expiration_minutes:
            return datetime.min.replace(tzinfo=utc_now().tzinfo)  # no created_at: Sanctum rejects it
        return min(candidates) if candidates else None

    @staticmethod
    def _expired(expires_at: datetime | None) -> bool:
        return expires_at is not None and expires_at <= utc_now()

    def _touch(self, verified: VerifiedToken, now: float) -> None:
        """Record last_used_at, at most once per interval per token, off the request path."""
        written = self._last_used_written
        last = written.get(verified.token_id)
        if last is not None and now - last < self.last_used_interval:
            return
        written.pop(verified.token_id, None)  # re-inserted last: the map stays in write order
        written[verified.token_id] = now
        # Entries older than the interval decide nothing any more (the next use writes anyway): drop
        # them, oldest first, so the map holds only tokens written within one interval, not every
        # token this process has ever seen.
        stale = now - self.last_used_interval
        for token_id, at in list(itertools.islice(written.items(), 16)):
            if at >= stale:
                break
            del written[token_id]
        task = asyncio.create_task(self._write_last_used(verified.token_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_last_used(self, token_id: int) -> None:
        now = utc_now()
        try:
            await PersonalAccessToken.filter(id=token_id).update(last_used_at=now, updated_at=now)
        except Exception:  # a missed last_used_at must never fail a request
            log.warning("could not record last_used_at for token %s", token_id, exc_info=True)

    async def revoke(self, token_id: int) -> None:
        await self.revoke_many([token_id])

    async def revoke_many(self, token_ids: list[int]) -> None:
        """Delete these tokens; answered only once every process's cache has let them go."""
        if not token_ids:
            return
        self._revoked(await PersonalAccessToken.filter(id__in=token_ids).delete())
        await self.invalidation.tokens(token_ids)
        for token_id in token_ids:
            self._last_used_written.pop(token_id, None)

    async def revoke_all_for(self, user_id: int) -> None:
        self._revoked(
            await PersonalAccessToken.filter(tokenable_type=self.tokenable_type, tokenable_id=user_id).delete()
        )
        await self.invalidation.user(user_id)

    async def revoke_all_except(self, user_id: int, keep_token_id: int) -> int:
        deleted = (
            await PersonalAccessToken.filter(tokenable_type=self.tokenable_type, tokenable_id=user_id)
            .exclude(id=keep_token_id)
            .delete()
        )
        self._revoked(deleted)
        await self.invalidation.user(user_id)
        return deleted

    async def user_changed(self, user_id: int) -> None:
        """The user's row changed (role, activation, password, 2FA, verification): cached copies of it,
        and what was rendered from them, are dropped in every process before the change is answered."""
        await self.invalidation.user(user_id)

    async def list_for(self, user_id: int) -> list[PersonalAccessToken]:
        return (
            await PersonalAccessToken.filter(tokenable_type=self.tokenable_type, tokenable_id=user_id)
            .order_by("id")
            .all()
        )

    async def revoke_owned(self, user_id: int, token_id: int) -> bool:
        """Revoke one of the user's own tokens; False when it is not theirs (or does not exist)."""
        deleted = await PersonalAccessToken.filter(
            id=token_id, tokenable_type=self.tokenable_type, tokenable_id=user_id
        ).delete()
        self._revoked(deleted)
        await self.invalidation.tokens([token_id])
        return deleted > 0

    def _revoked(self, deleted: int) -> None:
        if deleted:
            self.events.tokens_revoked("access", deleted)

    async def drain(self) -> None:
        """Wait for pending last_used_at writes (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
