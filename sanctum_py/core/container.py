"""The service objects of one process, built from Settings. Usable without HTTP (CLI, scripts, tests)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.accounts import Accounts
from sanctum_py.core.encrypter import Encrypter
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.core.login import LoginFlow
from sanctum_py.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from sanctum_py.core.sessions import TokenSessions
from sanctum_py.core.token_cache import TokenCache
from sanctum_py.mail import Mailer, build_mailer
from sanctum_py.settings import Settings


@dataclass
class Services:
    settings: Settings
    hasher: PasswordHasher
    accounts: Accounts
    tokens: AccessTokens
    limiter: RateLimiter
    sessions: TokenSessions
    login: LoginFlow
    encrypter: Encrypter
    mailer: Mailer

    @classmethod
    def build(cls, settings: Settings) -> Services:
        hasher = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_threads)
        limiter = _limiter(settings)
        accounts = Accounts(hasher, case_insensitive=settings.case_insensitive_identifiers)
        tokens = AccessTokens(
            tokenable_type=settings.tokenable_type,
            prefix=settings.sanctum_token_prefix,
            expiration_minutes=settings.sanctum_expiration,
            last_used_interval=settings.last_used_write_interval,
            cache=TokenCache(ttl=settings.token_cache_seconds if token_cache_enabled(settings) else 0),
        )
        sessions = TokenSessions(
            tokens,
            remember_minutes=settings.remember_me_minutes,
            token_minutes=settings.token_minutes,
        )
        login = LoginFlow(
            accounts=accounts,
            limiter=limiter,
            sessions=sessions,
            default_token_name=settings.token_name,
            max_attempts=settings.login_max_attempts,
            max_failures_per_hour=settings.login_max_failures_per_hour,
        )
        encrypter = Encrypter(settings.app_key_bytes)
        return cls(settings, hasher, accounts, tokens, limiter, sessions, login, encrypter, build_mailer(settings))

    async def close(self) -> None:
        await self.tokens.drain()
        await self.limiter.close()
        self.hasher.close()


def _limiter(settings: Settings) -> RateLimiter:
    if not settings.redis_url:
        return MemoryRateLimiter()
    redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return RedisRateLimiter(redis, prefix=f"{settings.redis_prefix}throttle:")


def token_cache_enabled(settings: Settings) -> bool:
    """`auto` caches only where a revocation can reach every cache: one process, no shared state."""
    if settings.token_cache == "auto":
        return settings.workers == 1 and not settings.redis_url
    return settings.token_cache == "on"
