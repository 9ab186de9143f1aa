"""Revocations reach every process's token cache before they are answered.

Every change that must end or alter a cached token (a token deleted, a user's tokens revoked, a user's
row changed) calls `tokens(...)` or `user(...)` after its database change has committed. Both drop the
entries in this process at once; `RedisInvalidation` then publishes the change on one Redis channel
that every caching process subscribes to (core/redis_subscription.py), and returns only once every
process that received it has applied it and said so. The order matters: published before the commit,
a neighbour could reload the old row after dropping it. A load that was already reading when the
message arrived is not cached (the cache's generation moved on).

Why acknowledgements: Redis answers PUBLISH before the subscribers' copies are on the wire (measured: a
subscriber on the same machine read the message 1.4 ms after the publisher had its reply, long enough
for a client to be answered and to ask another node, which then answered from its cache). So the
publisher counts the receivers PUBLISH reports, and each receiver, having dropped the entries, publishes
an acknowledgement on the publisher's own channel. A receiver that does not acknowledge within the
lease (a dead or partitioned process) has stopped trusting its cache by then: trust is extended only by
heartbeats that come back behind every message queued before them, so a process that has not applied
this message holds trust only from PINGs sent before the PUBLISH was answered. When the publish itself
fails (Redis unreachable from here), the revocation likewise waits out the lease.

The guarantee: once a revocation has been answered, no process answers the token from its cache. The
case left: a process that still hears Redis while the revoking one cannot reach it (a partial
partition) keeps its entry until TOKEN_CACHE_SECONDS ends it.

Messages: `<origin>:<seq>|<change>`, the change being `t:<id>,<id>...` (tokens), `u:<id>` (everything
cached for a user) or `*` (everything); acknowledgements `<seq>` on `<channel>:ack:<origin>`. A bare
`<change>` (another program's) is applied and not acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
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
        """Begin listening: for other processes' changes, and for the acknowledgements of this one's."""
        ...

    async def listening(self, seconds: float) -> bool:
        """Wait up to `seconds` until listening (a CLI about to publish); False if it never was."""
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

    async def listening(self, seconds: float) -> bool:
        return True

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


class _Acknowledgements:
    """The receivers of one published change that have said they applied it."""

    __slots__ = ("done", "expected", "received")

    def __init__(self) -> None:
        self.expected: int | None = None  # PUBLISH's count, once it has answered
        self.received = 0  # may run ahead of `expected`: an acknowledgement can beat PUBLISH's answer
        self.done = asyncio.Event()

    def count(self) -> None:
        self.received += 1
        self._check()

    def expect(self, receivers: int) -> None:
        self.expected = receivers
        self._check()

    def _check(self) -> None:
        if self.expected is not None and self.received >= self.expected:
            self.done.set()


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
        self._origin = secrets.token_hex(8).encode()
        self._ack_channel = f"{channel}:ack:".encode() + self._origin
        self._sequence = itertools.count(1)
        self._waiting: dict[int, _Acknowledgements] = {}
        self._acks_in_flight: set[asyncio.Task[None]] = set()
        self._redis = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._subscription = RedisSubscription(
            redis_url,
            (channel, self._ack_channel.decode()),
            on_message=self._received,
            on_live=cache.trust_until,
            on_lost=cache.distrust,
            lease=lease,
            heartbeat=heartbeat,
        )
        cache.distrust()  # nothing is trusted until the subscription proves itself

    def start(self) -> None:
        """Every process that publishes listens too, caching or not: it hears its acknowledgements there."""
        self._subscription.start()

    async def listening(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self._subscription.subscribed:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def tokens(self, token_ids: Collection[int]) -> None:
        if not token_ids:
            return
        self.cache.forget_tokens(token_ids)
        await self._publish(b"t:" + b",".join(str(token_id).encode() for token_id in token_ids))

    async def user(self, user_id: int) -> None:
        self.cache.forget_user(user_id)
        await self._publish(b"u:%d" % user_id)

    async def _publish(self, change: bytes) -> None:
        sequence = next(self._sequence)
        acknowledgements = self._waiting[sequence] = _Acknowledgements()
        try:
            try:
                receivers = await self._redis.publish(self.channel, b"%s:%d|%s" % (self._origin, sequence, change))
            except (RedisError, OSError) as error:
                log.error("cache invalidation: could not publish to Redis (%s); waiting out the lease", error)
                await self._sleep_until(time.monotonic() + self.lease)
                return
            answered_at = time.monotonic()
            acknowledgements.expect(int(receivers))
            try:
                await asyncio.wait_for(acknowledgements.done.wait(), timeout=self.lease)
            except TimeoutError:
                missing = (acknowledgements.expected or 0) - acknowledgements.received
                log.warning("cache invalidation: %d process(es) did not acknowledge; waiting out the lease", missing)
                await self._sleep_until(answered_at + self.lease)
        finally:
            del self._waiting[sequence]

    @staticmethod
    async def _sleep_until(deadline: float) -> None:
        await asyncio.sleep(max(deadline - time.monotonic(), 0.0))

    def _received(self, channel: bytes, payload: bytes) -> None:
        """Called as the bytes are read (see core/redis_subscription.py): apply, then acknowledge."""
        if channel == self._ack_channel:
            waiting = self._waiting.get(_number(payload))
            if waiting is not None:
                waiting.count()
            return
        header, separator, change = payload.partition(b"|")
        if not separator:  # another program's bare change: applied, nobody to tell
            apply_message(self.cache, payload)
            return
        apply_message(self.cache, change)
        origin, _, sequence = header.partition(b":")
        if origin == self._origin:
            waiting = self._waiting.get(_number(sequence))
            if waiting is not None:
                waiting.count()
            return
        task = asyncio.get_running_loop().create_task(self._acknowledge(origin, sequence))
        self._acks_in_flight.add(task)
        task.add_done_callback(self._acks_in_flight.discard)

    async def _acknowledge(self, origin: bytes, sequence: bytes) -> None:
        try:
            await self._redis.publish(f"{self.channel}:ack:".encode() + origin, sequence)
        except (RedisError, OSError):  # the publisher then waits out the lease: slower, still safe
            log.warning("cache invalidation: could not acknowledge a change", exc_info=True)

    async def close(self) -> None:
        await self._subscription.close()
        if self._acks_in_flight:
            await asyncio.gather(*self._acks_in_flight, return_exceptions=True)
        await self._redis.aclose()


def _number(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        return -1
