"""Fixed-window rate limiting with Laravel's semantics (Illuminate\\Cache\\RateLimiter).

The window opens at the first hit and lasts `decay` seconds; once `max_attempts` hits are in it,
further attempts are refused (and not counted) until it closes. In-process by default; in Redis when
configured, so every worker and node shares one budget. If Redis stops answering, the in-process
limiter takes over: throttles degrade to per-process limits, never to no limits. While Redis is down
one call a second probes it (a dead link costs a socket timeout per call); the rest go straight to
the fallback, so an outage does not slow every request down.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("sanctum_py.ratelimit")

REDIS_RETRY_SECONDS = 1.0  # while Redis is down, how often one call tries it again


SWEEP_EVERY = 10_000


class Attempt(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: one is built on every throttled request, and a
    # frozen dataclass's __init__ pays an object.__setattr__ per field.
    allowed: bool
    attempts: int  # hits in the current window, this one included when allowed
    max_attempts: int
    retry_after: int  # seconds until the window closes

    @property
    def remaining(self) -> int:
        return 0 if not self.allowed else max(self.max_attempts - self.attempts, 0)

    @property
    def reset_at(self) -> int:
        return int(time.time()) + self.retry_after


class RateLimiter(Protocol):
    async def attempt(self, key: str, max_attempts: int, decay_seconds: int) -> Attempt:
        """Check and count in one step (ThrottleRequests): refused attempts are not counted."""
        ...

    async def blocked_for(self, key: str, max_attempts: int) -> int | None:
        """Seconds until `key` may try again if it already has `max_attempts` hits, else None
        (RateLimiter::tooManyAttempts + availableIn)."""
        ...

    async def hit(self, key: str, decay_seconds: int) -> int:
        """Count one hit without checking (RateLimiter::hit), e.g. a failed login."""
        ...

    async def clear(self, key: str) -> None: ...

    async def mark(self, key: str, seconds: int) -> None:
        """Remember `key` for `seconds` (again from now if it was marked), e.g. a known address."""
        ...

    async def is_marked(self, key: str) -> bool: ...

    async def healthy(self) -> bool:
        """False when the shared store (Redis) does not answer."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (hits, window closes at)
        self._calls = 0

    async def attempt(self, key: str, max_attempts: int, decay_seconds: int) -> Attempt:
        return self.attempt_now(key, max_attempts, decay_seconds)

    def attempt_now(self, key: str, max_attempts: int, decay_seconds: int) -> Attempt:
        now = self._clock()
        self._calls += 1
        if not self._calls % SWEEP_EVERY:  # tested here, not in _sweep: this runs on every request
            self._sweep(now)
        hits, closes_at = self._windows.get(key, (0, 0.0))
        if closes_at <= now:
            hits, closes_at = 0, now + decay_seconds
        retry_after = max(math.ceil(closes_at - now), 0)
        if hits >= max_attempts:
            return Attempt(False, hits, max_attempts, retry_after)
        hits += 1
        self._windows[key] = (hits, closes_at)
        return Attempt(True, hits, max_attempts, retry_after)

    async def blocked_for(self, key: str, max_attempts: int) -> int | None:
        return self.blocked_for_now(key, max_attempts)

    def blocked_for_now(self, key: str, max_attempts: int) -> int | None:
        now = self._clock()
        hits, closes_at = self._windows.get(key, (0, 0.0))
        if closes_at <= now or hits < max_attempts:
            return None
        return max(math.ceil(closes_at - now), 1)

    async def hit(self, key: str, decay_seconds: int) -> int:
        return self.hit_now(key, decay_seconds)

    def hit_now(self, key: str, decay_seconds: int) -> int:
        now = self._clock()
        hits, closes_at = self._windows.get(key, (0, 0.0))
        if closes_at <= now:
            hits, closes_at = 0, now + decay_seconds
        self._windows[key] = (hits + 1, closes_at)
        return hits + 1

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    async def mark(self, key: str, seconds: int) -> None:
        self.mark_now(key, seconds)

    def mark_now(self, key: str, seconds: int) -> None:
        # A mark is a one-hit window: the sweep drops it once it lapses, like any closed window.
        self._windows[key] = (1, self._clock() + seconds)

    async def is_marked(self, key: str) -> bool:
        return self.is_marked_now(key)

    def is_marked_now(self, key: str) -> bool:
        return self.blocked_for_now(key, 1) is not None

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._windows.clear()

    def _sweep(self, now: float) -> None:
        """Drop closed windows (every SWEEP_EVERY attempts), so idle keys do not pile up."""
        for key in [k for k, (_, closes_at) in self._windows.items() if closes_at <= now]:
            del self._windows[key]


# KEYS[1] = counter; ARGV = max_attempts, decay_ms. Returns {allowed, hits, ms left in the window}.
_ATTEMPT_SCRIPT = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[2])
  return {1, 1, tonumber(ARGV[2])}
end
local hits = tonumber(redis.call('GET', KEYS[1]))
if hits >= tonumber(ARGV[1]) then
  return {0, hits, ttl}
end
hits = redis.call('INCR', KEYS[1])
return {1, hits, ttl}
"""


# KEYS[1] = counter; ARGV = max_attempts, decay_ms, wanted. Reserves up to `wanted` hits of the window
# at once. Returns {hits granted (0 = refused), hits in the window after them, ms left in the window}.
_LEASE_SCRIPT = """
local max = tonumber(ARGV[1])
local wanted = tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  local granted = math.min(wanted, max)
  redis.call('SET', KEYS[1], granted, 'PX', ARGV[2])
  return {granted, granted, tonumber(ARGV[2])}
end
local hits = tonumber(redis.call('GET', KEYS[1]))
local granted = math.min(wanted, max - hits)
if granted <= 0 then
  return {0, hits, ttl}
end
return {granted, redis.call('INCRBY', KEYS[1], granted), ttl}
"""

# A budget of N hits is reserved from Redis N // LEASE_DIVISOR at a time (at least 1, i.e. exactly per
# hit, for the small budgets of login and reset throttles): see RedisRateLimiter.attempt.
LEASE_DIVISOR = 64
LEASE_MAX = 1000


class _Lease:
    """Hits of one window reserved in Redis and not yet spent by this process."""

    __slots__ = ("closes_at", "hits", "left")

    def __init__(self, left: int, hits: int, closes_at: float) -> None:
        self.left = left
        self.hits = hits  # the window's count in Redis when the lease was granted
        self.closes_at = closes_at


# KEYS[1] = counter; ARGV[1] = decay_ms. Returns the hits in the window after this one.
_HIT_SCRIPT = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
  return 1
end
return redis.call('INCR', KEYS[1])
"""


class RedisRateLimiter:
    """Keys reach Redis as `<prefix><namespace>:<HMAC-SHA256 of the rest>`: what follows the namespace is
    what a client typed or sent (a login, which may be a password typed into the wrong field, an email, an
    address), and a Redis dump or MONITOR must not show it. Keyed with APP_KEY (same on every node, so
    they share counts) so that a dump cannot be checked against guesses either."""

    def __init__(self, redis: Redis, prefix: str = "sanctum_py:throttle:", *, key_secret: bytes = b"") -> None:
        self._redis = redis
        self._prefix = prefix
        self._key_secret = key_secret
        self._script = redis.register_script(_ATTEMPT_SCRIPT)
        self._hit_script = redis.register_script(_HIT_SCRIPT)
        self._lease_script = redis.register_script(_LEASE_SCRIPT)
        self._leases: dict[str, _Lease] = {}
        self._lease_requests = 0
        self._fallback = MemoryRateLimiter()
        self._degraded = False
        self._probe_at = 0.0  # while degraded: when the next call may try Redis again

    def storage_key(self, key: str) -> str:
        """The Redis key that holds `key`'s count."""
        namespace, _, rest = key.partition(":")
        digest = hmac.new(self._key_secret, rest.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"{self._prefix}{namespace}:{digest}"

    def _skip_redis(self) -> bool:
        """While degraded, True for every call but one per REDIS_RETRY_SECONDS, which probes Redis."""
        if not self._degraded:
            return False
        now = time.monotonic()
        if now < self._probe_at:
            return True
        self._probe_at = now + REDIS_RETRY_SECONDS  # this call is the probe; the others keep skipping
        return False

    def _redis_failed(self) -> None:
        self._probe_at = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._degraded:
            log.error("Redis unavailable: rate limits fall back to this process until it returns")
            self._degraded = True

    def _redis_answered(self) -> None:
        if self._degraded:
            log.warning("Redis is back: rate limits are shared again")
            self._degraded = False

    async def attempt(self, key: str, max_attempts: int, decay_seconds: int) -> Attempt:
        """Exact per hit for small budgets. A large one (the API limit of a busy client) is reserved from
        Redis in leases of 1/64 of it and spent here without a round trip: never more than the budget
        is admitted across all processes (every hit was reserved in Redis), but up to a lease per other
        process may sit unspent while this one refuses, and X-RateLimit-Remaining counts this process's
        unspent lease as spent. Why: a Redis round trip per request cost /api/me about 80% of its
        throughput (bench/run.py with REDIS_URL)."""
        lease_size = min(max_attempts // LEASE_DIVISOR, LEASE_MAX)
        if lease_size > 1:
            leased = self.attempt_leased(key, max_attempts)
            if leased is not None:
                return leased
        if self._skip_redis():
            return self._fallback.attempt_now(key, max_attempts, decay_seconds)
        if lease_size > 1:
            return await self._lease(key, max_attempts, decay_seconds, lease_size)
        try:
            allowed, hits, ms_left = await self._script(
                keys=[self.storage_key(key)], args=[max_attempts, decay_seconds * 1000]
            )
        except (RedisError, OSError):
            self._redis_failed()
            return self._fallback.attempt_now(key, max_attempts, decay_seconds)
        self._redis_answered()
        return Attempt(bool(allowed), int(hits), max_attempts, math.ceil(int(ms_left) / 1000))

    def attempt_leased(self, key: str, max_attempts: int) -> Attempt | None:
        """An admitted attempt spent from a lease this process holds, or None: ask `attempt`."""
        lease = self._leases.get(key)
        if lease is None or lease.left <= 0:
            return None
        now = time.monotonic()
        if now >= lease.closes_at:
            return None
        lease.left -= 1
        return Attempt(True, lease.hits - lease.left, max_attempts, math.ceil(lease.closes_at - now))

    async def _lease(self, key: str, max_attempts: int, decay_seconds: int, size: int) -> Attempt:
        self._sweep_leases()
        try:
            granted, hits, ms_left = await self._lease_script(
                keys=[self.storage_key(key)], args=[max_attempts, decay_seconds * 1000, size]
            )
        except (RedisError, OSError):
            self._redis_failed()
            return self._fallback.attempt_now(key, max_attempts, decay_seconds)
        self._redis_answered()
        granted, hits, retry_after = int(granted), int(hits), math.ceil(int(ms_left) / 1000)
        if not granted:
            self._leases.pop(key, None)
            return Attempt(False, hits, max_attempts, retry_after)
        # This hit spends one of the granted; the rest are this process's until the window closes.
        self._leases[key] = _Lease(granted - 1, hits, time.monotonic() + int(ms_left) / 1000)
        return Attempt(True, hits - granted + 1, max_attempts, retry_after)

    def _sweep_leases(self) -> None:
        """Leases of closed windows go now and then, so idle keys do not pile up."""
        self._lease_requests += 1
        if self._lease_requests % 1024:
            return
        now = time.monotonic()
        for key in [k for k, lease in self._leases.items() if lease.closes_at <= now or lease.left <= 0]:
            del self._leases[key]

    async def blocked_for(self, key: str, max_attempts: int) -> int | None:
        if self._skip_redis():
            return self._fallback.blocked_for_now(key, max_attempts)
        try:
            stored = self.storage_key(key)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(stored)  # queued on the pipeline, sent by execute()
                pipe.pttl(stored)
                hits, ms_left = await pipe.execute()
        except (RedisError, OSError):
            self._redis_failed()
            return self._fallback.blocked_for_now(key, max_attempts)
        self._redis_answered()
        if hits is None or int(hits) < max_attempts or int(ms_left) <= 0:
            return None
        return max(math.ceil(int(ms_left) / 1000), 1)

    async def hit(self, key: str, decay_seconds: int) -> int:
        if self._skip_redis():
            return self._fallback.hit_now(key, decay_seconds)
        try:
            hits = await self._hit_script(keys=[self.storage_key(key)], args=[decay_seconds * 1000])
        except (RedisError, OSError):
            self._redis_failed()
            return self._fallback.hit_now(key, decay_seconds)
        self._redis_answered()
        return int(hits)

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        self._leases.pop(key, None)
        if self._skip_redis():
            return
        try:
            await self._redis.delete(self.storage_key(key))
        except (RedisError, OSError):
            self._redis_failed()
            log.warning("Redis unavailable: could not clear a rate-limit key")

    async def mark(self, key: str, seconds: int) -> None:
        if self._skip_redis():
            self._fallback.mark_now(key, seconds)
            return
        try:
            await self._redis.set(self.storage_key(key), 1, px=seconds * 1000)
        except (RedisError, OSError):
            self._redis_failed()
            self._fallback.mark_now(key, seconds)
            return
        self._redis_answered()

    async def is_marked(self, key: str) -> bool:
        if self._skip_redis():
            return self._fallback.is_marked_now(key)
        try:
            found = await self._redis.exists(self.storage_key(key))
        except (RedisError, OSError):
            self._redis_failed()
            return self._fallback.is_marked_now(key)
        self._redis_answered()
        return bool(found)

    async def healthy(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
