"""The Redis-coordinated token cache, piece by piece, against a real Redis (and a real TCP proxy to cut it).

Two `RedisInvalidation`s on one channel stand for two processes; each has its own TokenCache. What is
checked here is the mechanism (publish, apply, trust, distrust); tests/test_cache_coherence.py checks the
whole service across real `serve` processes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from sanctum_py.core.cache_invalidation import RedisInvalidation, apply_message
from sanctum_py.core.token_cache import TokenCache, VerifiedToken
from sanctum_py.db.models import User
from tests.conftest import REDIS_URL
from tests.support.tcp_proxy import proxy_for, through

LEASE = 0.6
HEARTBEAT = 0.1


def entry(token_id: int, user_id: int) -> VerifiedToken:
    user = User(id=user_id, name="n", username=f"u{user_id}", email=f"u{user_id}@example.com", password="x")
    return VerifiedToken(
        token_id=token_id,
        token_hash=f"hash-{token_id}",
        user=user,
        abilities=["*"],
        expires_at=None,
        last_used_at=datetime.now(UTC),
    )


async def until(condition: object, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def trusted(cache: TokenCache) -> bool:
    return time.monotonic() < cache.trusted_until


@pytest.fixture
async def channel() -> str:
    return f"sanctum_test:{secrets.token_hex(6)}:token-cache"


async def node(url: str, channel: str) -> RedisInvalidation:
    invalidation = RedisInvalidation(TokenCache(ttl=60), url, channel, lease=LEASE, heartbeat=HEARTBEAT)
    invalidation.start()
    return invalidation


@pytest.fixture
async def pair(channel: str) -> AsyncIterator[tuple[RedisInvalidation, RedisInvalidation]]:
    first, second = await node(REDIS_URL, channel), await node(REDIS_URL, channel)
    await until(lambda: trusted(first.cache) and trusted(second.cache))
    yield first, second
    await first.close()
    await second.close()


async def test_nothing_is_trusted_before_the_subscription_is_proven(channel: str) -> None:
    invalidation = RedisInvalidation(TokenCache(ttl=60), REDIS_URL, channel, lease=LEASE, heartbeat=HEARTBEAT)
    cache = invalidation.cache
    cache.put(entry(1, 1), loaded_at_generation=cache.generation)
    assert cache.get("hash-1") is None  # not subscribed yet: neither stored nor answered
    invalidation.start()
    await until(lambda: trusted(cache))
    cache.put(entry(1, 1), loaded_at_generation=cache.generation)
    assert cache.get("hash-1") is not None
    await invalidation.close()
    assert cache.get("hash-1") is None  # closing drops the subscription, and with it the trust


async def test_a_revocation_returns_only_once_the_other_process_applied_it(
    pair: tuple[RedisInvalidation, RedisInvalidation],
) -> None:
    """No waiting here: when `tokens`/`user` return, the other process has dropped the entries (it said so).
    Redis answers PUBLISH before the subscribers' copies arrive, so without the acknowledgements this
    fails about one time in six (measured)."""
    first, second = pair
    for _ in range(50):
        for cache in (first.cache, second.cache):
            cache.put(entry(7, 70), loaded_at_generation=cache.generation)
            cache.put(entry(8, 70), loaded_at_generation=cache.generation)
            cache.put(entry(9, 90), loaded_at_generation=cache.generation)
        await first.tokens([7])
        assert first.cache.get("hash-7") is None and second.cache.get("hash-7") is None
        assert second.cache.get("hash-8") is not None
        await second.user(70)
        assert first.cache.get("hash-8") is None and second.cache.get("hash-8") is None
        assert first.cache.get("hash-9") is not None and second.cache.get("hash-9") is not None


async def test_a_receiver_that_does_not_acknowledge_costs_the_lease_not_the_guarantee(channel: str) -> None:
    """The second process's link is black-holed: Redis still counts it as a receiver, it never answers. The
    revocation waits out the lease, by which time the second has stopped trusting its cache."""
    async with proxy_for(REDIS_URL) as proxy:
        first = await node(REDIS_URL, channel)
        second = await node(through(REDIS_URL, proxy), channel)
        try:
            await until(lambda: trusted(first.cache) and trusted(second.cache))
            second.cache.put(entry(3, 30), loaded_at_generation=second.cache.generation)
            proxy.cut("blackhole")
            started = time.monotonic()
            await first.tokens([3])
            assert time.monotonic() - started >= LEASE - 0.05
            assert second.cache.get("hash-3") is None and not trusted(second.cache)
        finally:
            await first.close()
            await second.close()


async def test_a_load_that_began_before_a_revocation_is_not_cached(
    pair: tuple[RedisInvalidation, RedisInvalidation],
) -> None:
    first, second = pair
    generation = second.cache.generation  # a database read starts here in the second process
    await first.tokens([5])
    await until(lambda: second.cache.generation != generation, seconds=1)
    second.cache.put(entry(5, 50), loaded_at_generation=generation)  # the read returns the old row
    assert second.cache.get("hash-5") is None


@pytest.mark.parametrize("mode", ["reset", "blackhole"])
async def test_a_cut_subscription_fails_closed_and_recovers_empty(channel: str, mode: str) -> None:
    """Redis cut between the second process and Redis: it stops answering from its cache within one lease
    (at once on a reset), and once subscribed again it starts from an empty cache."""
    async with proxy_for(REDIS_URL) as proxy:
        first = await node(REDIS_URL, channel)
        second = await node(through(REDIS_URL, proxy), channel)
        try:
            await until(lambda: trusted(first.cache) and trusted(second.cache))
            second.cache.put(entry(3, 30), loaded_at_generation=second.cache.generation)
            proxy.cut(mode)  # type: ignore[arg-type]
            cut_at = time.monotonic()
            await first.tokens([3])  # published while the second cannot hear it
            await until(lambda: second.cache.get("hash-3") is None, seconds=LEASE + 0.5)
            assert time.monotonic() - cut_at <= LEASE + 0.3
            assert not trusted(second.cache)
            second.cache.put(entry(4, 40), loaded_at_generation=second.cache.generation)
            assert second.cache.get("hash-4") is None  # untrusted: nothing new is kept either
            await proxy.restore()
            await until(lambda: trusted(second.cache), seconds=5)
            assert second.cache.get("hash-3") is None and len(second.cache._by_hash) == 0
        finally:
            await first.close()
            await second.close()


async def test_a_publish_that_cannot_reach_redis_waits_out_the_lease(channel: str) -> None:
    async with proxy_for(REDIS_URL) as proxy:
        cut_off = RedisInvalidation(
            TokenCache(ttl=60), through(REDIS_URL, proxy), channel, lease=LEASE, heartbeat=HEARTBEAT
        )
        try:
            proxy.cut("reset")
            started = time.monotonic()
            await cut_off.tokens([1])
            assert time.monotonic() - started >= LEASE - 0.05
        finally:
            await cut_off.close()


def test_unreadable_messages_drop_everything() -> None:
    cache = TokenCache(ttl=60)
    cache.put(entry(1, 10), loaded_at_generation=cache.generation)
    apply_message(cache, b"t:1x")
    assert cache.get("hash-1") is None
    cache.put(entry(2, 20), loaded_at_generation=cache.generation)
    apply_message(cache, b"garbage")
    assert cache.get("hash-2") is None
