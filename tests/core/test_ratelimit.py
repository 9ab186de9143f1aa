"""Laravel's fixed-window limiter, in process and in a real Redis, and the fallback when Redis is gone."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from sanctum_py.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.conftest import REDIS_URL


class FakeClock:
    """A controllable monotonic clock (time itself, not a service, so not a mock of anything real)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    redis_limiter = RedisRateLimiter(Redis.from_url(REDIS_URL), prefix=f"sanctum_test:{secrets.token_hex(6)}:")
    yield redis_limiter
    await redis_limiter.close()


async def test_attempt_counts_until_the_limit_then_refuses_without_counting(limiter: RateLimiter) -> None:
    results = [await limiter.attempt("k", 3, 60) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0, 0]
    assert all(r.attempts == 3 for r in results[2:])
    assert 58 <= results[-1].retry_after <= 60


async def test_hit_and_blocked_for(limiter: RateLimiter) -> None:
    assert await limiter.blocked_for("login", 2) is None
    assert await limiter.hit("login", 60) == 1
    assert await limiter.blocked_for("login", 2) is None
    assert await limiter.hit("login", 60) == 2
    blocked = await limiter.blocked_for("login", 2)
    assert blocked is not None and 58 <= blocked <= 60
    await limiter.clear("login")
    assert await limiter.blocked_for("login", 2) is None


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    await limiter.attempt("a", 1, 60)
    assert not (await limiter.attempt("a", 1, 60)).allowed
    assert (await limiter.attempt("b", 1, 60)).allowed


async def test_window_reopens_after_decay() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    assert (await limiter.attempt("k", 1, 60)).allowed
    clock.now += 59.5
    refused = await limiter.attempt("k", 1, 60)
    assert not refused.allowed and refused.retry_after == 1
    clock.now += 0.5
    assert (await limiter.attempt("k", 1, 60)).allowed


async def test_redis_outage_falls_back_to_process_limits(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that does not answer must never mean 'no limit'."""
    dead = RedisRateLimiter(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2), prefix="x:")
    try:
        results = [await dead.attempt("k", 2, 60) for _ in range(3)]
        assert [r.allowed for r in results] == [True, True, False]
        await dead.hit("f", 60)
        assert await dead.blocked_for("f", 1) is not None
    finally:
        await dead.close()
    assert "Redis unavailable" in caplog.text


async def test_a_mark_is_remembered_until_cleared(limiter: RateLimiter) -> None:
    assert not await limiter.is_marked("login-known:1|10.0.0.1")
    await limiter.mark("login-known:1|10.0.0.1", 60)
    assert await limiter.is_marked("login-known:1|10.0.0.1")
    assert not await limiter.is_marked("login-known:2|10.0.0.1")
    await limiter.clear("login-known:1|10.0.0.1")
    assert not await limiter.is_marked("login-known:1|10.0.0.1")


async def test_large_budgets_are_leased_and_never_overspent_across_processes() -> None:
    """Two limiters on one Redis key stand for two processes: a budget of 640 is reserved 10 at a time,
    so most attempts cost no round trip, yet together they admit exactly 640 and refuse the rest."""
    prefix = f"sanctum_test:{secrets.token_hex(6)}:"
    first, second = (RedisRateLimiter(Redis.from_url(REDIS_URL), prefix=prefix) for _ in range(2))
    try:
        results = []
        for n in range(800):
            results.append(await (first if n % 3 else second).attempt("api:user:1", 640, 60))
        assert sum(r.allowed for r in results) == 640
        assert results[0].remaining == 639  # the lease's first hit counts as one, not ten
        reader = Redis.from_url(REDIS_URL)
        stored = await reader.get(first.storage_key("api:user:1"))
        await reader.aclose()
        assert int(stored or 0) == 640  # every admitted hit was reserved in Redis first
        assert not results[-1].allowed and 58 <= results[-1].retry_after <= 60
    finally:
        await first.close()
        await second.close()


async def test_small_budgets_stay_exact_per_hit() -> None:
    """Login-sized budgets (under 128) are counted in Redis on every attempt, as Laravel does."""
    prefix = f"sanctum_test:{secrets.token_hex(6)}:"
    first, second = (RedisRateLimiter(Redis.from_url(REDIS_URL), prefix=prefix) for _ in range(2))
    try:
        assert [(await first.attempt("k", 60, 60)).remaining for _ in range(3)] == [59, 58, 57]
        assert (await second.attempt("k", 60, 60)).remaining == 56
    finally:
        await first.close()
        await second.close()
