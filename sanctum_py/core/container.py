"""The service objects of one process, built from Settings. Usable without HTTP (CLI, scripts, tests)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.accounts import Accounts
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from sanctum_py.core.token_cache import TokenCache
from sanctum_py.settings import Settings


@dataclass
class Services:
    settings: Settings
    hasher: PasswordHasher
    accounts: Accounts
    tokens: AccessTokens
    limiter: RateLimiter

    @classmethod
    def build(cls, settings: Settings) -> Services:
        hasher = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_threads)
        cache = TokenCache(ttl=settings.token_cache_seconds if token_cache_enabled(settings) else 0)
        limiter: RateLimiter
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
            limiter = RedisRateLimiter(redis, prefix=f"{settings.redis_prefix}throttle:")
        else:
            limiter = MemoryRateLimiter()
        return cls(
            settings=settings,
            hasher=hasher,
            accounts=Accounts(hasher, case_insensitive=settings.case_insensitive_identifiers),
            tokens=AccessTokens(
                tokenable_type=settings.tokenable_type,
                prefix=settings.sanctum_token_prefix,
                expiration_minutes=settings.sanctum_expiration,
                last_used_interval=settings.last_used_write_interval,
                cache=cache,
            ),
            limiter=limiter,
        )

    async def close(self) -> None:
        await self.tokens.drain()
        await self.limiter.close()
        self.hasher.close()


def token_cache_enabled(settings: Settings) -> bool:
    """`auto` caches only where a revocation can reach every cache: one process, no shared state."""
    if settings.token_cache == "auto":
        return settings.workers == 1 and not settings.redis_url
    return settings.token_cache == "on"
