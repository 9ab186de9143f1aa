"""Revocations reach every process's token cache before they are answered.

Every change that must end or alter a cached token (a token deleted, a user's tokens revoked, a user's
row changed) calls `tokens(...)` or `user(...)` after its database change has committed. Both drop the
entries in this process at once; `RedisInvalidation` then publishes the change on one Redis channel
that every serving process subscribes to (core/redis_subscription.py), and returns only once Redis has
taken it. The order matters: published before the commit, a neighbour could reload the old row after
dropping it. A load that was already reading when the message arrived is not cached (the cache's
generation moved on).

The guarantee: once a revocation has been answered, no process answers the token from its cache. A
subscribed process applies the message before any request that reached it after the message did; a
process that cannot prove its subscription is live (a PONG within the lease) does not use its cache at
all. When the publish itself fails (Redis unreachable from here), the revocation waits out the lease
before it is answered, so every process cut off from Redis at the same time has stopped trusting its
cache by then. The one case left: a process that still hears Redis while this one cannot reach it
(a partial partition) keeps its entry until TOKEN_CACHE_SECONDS ends it.

Messages: `t:<id>,<id>...` (tokens), `u:<id>` (everything cached for a user), `*` (everything).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from sanctum_py.core.redis_subscription import RedisSubscription
from sanctum_py.core.token_cache import TokenCache

log = logging.getLogger("sanctum_py.cache")

LEASE_SECONDS = 1.5  # how long one heartbeat's PONG keeps a process's cache trusted
HEARTBEAT_SECONDS = 0.25


class CacheInvalidation(Protocol):
    async def tokens(self, token_ids: Collection[int]) -> None: ...

    async def user(self, user_id: int) -> None: ...

    def start(self) -> None:
        """Begin listening for other processes' changes (serving processes only)."""
        ...

    async def close(self) -> None: ...


class LocalInvalidation:
    """One process owns the database (or nothing is cached): dropping this process's entries is enough."""

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache

    async def tokens(self, token_ids: Collection[int]) -> None:
        self.cache.forget_tokens(token_ids)

    async def user(self, user_id: int) -> None:
        self.cache.forget_user(user_id)

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def apply_message(cache: TokenCache, payload: bytes) -> None:
    """Drop what a published change names; anything unreadable drops everything (never trust a guess)."""
    kind, _, ids = payload.partition(b":")
    try:
        numbers = [int(part) for part in ids.split(b",")] if ids else []
    except ValueError:
        numbers, kind = [], b"*"
    if kind == b"t" and numbers:
        cache.forget_tokens(numbers)
    elif kind == b"u" and numbers:
        for user_id in numbers:
            cache.forget_user(user_id)
    else:
        cache.clear()


class RedisInvalidation:
    def __init__(
        self,
        cache: TokenCache,
        redis_url: str,
        channel: str,
        *,
        lease: float = LEASE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.cache = cache
        self.channel = channel
        self.lease = lease
        self._redis = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._subscription = RedisSubscription(
            redis_url,
            channel,
            on_message=lambda payload: apply_message(cache, payload),
            on_live=cache.trust_until,
            on_lost=cache.distrust,
            lease=lease,
            heartbeat=heartbeat,
        )
        cache.distrust()  # nothing is trusted until the subscription proves itself

    def start(self) -> None:
        if self.cache.enabled:  # a process that caches nothing has nothing to drop
            self._subscription.start()

    async def tokens(self, token_ids: Collection[int]) -> None:
        if not token_ids:
            return
        self.cache.forget_tokens(token_ids)
        await self._publish(b"t:" + b",".join(str(token_id).encode() for token_id in token_ids))

    async def user(self, user_id: int) -> None:
        self.cache.forget_user(user_id)
        await self._publish(b"u:%d" % user_id)

    async def _publish(self, payload: bytes) -> None:
        try:
            await self._redis.publish(self.channel, payload)
            return
        except (RedisError, OSError) as error:
            failed_at = time.monotonic()
            log.error("cache invalidation: could not publish to Redis (%s); waiting out the lease", error)
        # Every process that cannot hear Redis either stops trusting its cache within one lease of its
        # last heartbeat, which was before this failure: after that wait, none answers this token.
        await asyncio.sleep(max(failed_at + self.lease - time.monotonic(), 0.0))

    async def close(self) -> None:
        await self._subscription.close()
        await self._redis.aclose()
