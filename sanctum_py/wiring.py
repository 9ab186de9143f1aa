"""The composition root: Settings -> the service objects of one process, built in dependency order.

Every object gets everything it needs when it is made (nothing is completed afterwards by setting an
attribute), so reading `build_services` top to bottom is reading the dependency graph. Usable without
HTTP (CLI, scripts, tests).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.accounts import Accounts
from sanctum_py.core.auth import AuthService
from sanctum_py.core.cache_invalidation import CacheInvalidation, LocalInvalidation, RedisInvalidation
from sanctum_py.core.encrypter import Encrypter
from sanctum_py.core.events import NO_EVENTS, AuthEvents
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.core.jwt_tokens import JwtCodec
from sanctum_py.core.login import LoginFlow, SignIn
from sanctum_py.core.password_confirmation import PasswordConfirmation
from sanctum_py.core.passwords import PasswordResets, ResetConfig, bind_reset_table
from sanctum_py.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from sanctum_py.core.refresh import RefreshTokens
from sanctum_py.core.sessions import TokenSessions
from sanctum_py.core.token_cache import TokenCache
from sanctum_py.core.two_factor_auth import TwoFactorAuth
from sanctum_py.core.verification import EmailVerification, VerificationConfig
from sanctum_py.mail import Mailer, build_mailer
from sanctum_py.mail.outbox import Outbox
from sanctum_py.settings import Settings


@dataclass(frozen=True)
class Services:
    """What the dialects call: `auth` for every account and token operation; the rest for what one wire
    alone offers (2FA management, password confirmation, email links) and for the kernel (guard, limits)."""

    settings: Settings
    auth: AuthService
    hasher: PasswordHasher
    accounts: Accounts
    tokens: AccessTokens
    limiter: RateLimiter
    refresh: RefreshTokens
    two_factor: TwoFactorAuth
    password_confirmation: PasswordConfirmation
    verification: EmailVerification
    encrypter: Encrypter
    outbox: Outbox
    mailer: Mailer
    events: AuthEvents = NO_EVENTS  # who hears about logins, tokens and outages (metrics, when on)

    async def close(self) -> None:
        await self.outbox.drain()
        await self.tokens.drain()
        await self.tokens.invalidation.close()
        await self.refresh.close()
        await self.limiter.close()
        self.hasher.close()


def build_services(settings: Settings, events: AuthEvents = NO_EVENTS) -> Services:
    hasher = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_threads)
    limiter = _limiter(settings)
    accounts = Accounts(hasher, case_insensitive=settings.case_insensitive_identifiers)
    encrypter = Encrypter(settings.app_key_bytes)
    cache = TokenCache(ttl=settings.token_cache_seconds if token_cache_enabled(settings) else 0)
    tokens = AccessTokens(
        tokenable_type=settings.tokenable_type,
        prefix=settings.sanctum_token_prefix,
        expiration_minutes=settings.sanctum_expiration,
        last_used_interval=settings.last_used_write_interval,
        cache=cache,
        invalidation=_invalidation(settings, cache),
        events=events,
        jwt=JwtCodec(settings.app_key_bytes, algorithm=settings.jwt_algorithm, private_key=settings.jwt_private_key),
    )
    # Always built: the v1 wire always has refresh tokens; REFRESH_TOKENS only decides the Laravel wire's.
    refresh = RefreshTokens(
        tokens=tokens,
        limiter=limiter,
        encrypter=encrypter,
        access_minutes=settings.access_token_minutes,
        refresh_days=settings.refresh_token_days,
        remember_minutes=settings.remember_me_minutes,
        grace_seconds=settings.refresh_reuse_grace_seconds,
        throttle_seconds=settings.refresh_throttle_seconds,
        default_token_name=settings.token_name,
        events=events,
    )
    sessions = TokenSessions(
        tokens,
        refresh,
        remember_minutes=settings.remember_me_minutes,
        access_minutes=settings.access_token_minutes,
        token_minutes=settings.token_minutes,
    )
    sign_in = SignIn(accounts, limiter, sessions, default_token_name=settings.token_name, events=events)
    two_factor = TwoFactorAuth(
        encrypter=encrypter,
        sessions=sign_in,
        app_name=settings.app_name,
        window=settings.two_factor_window,
        challenge_seconds=settings.two_factor_challenge_seconds,
        max_attempts=settings.two_factor_challenge_attempts,
        tokens=tokens,
        limiter=limiter,
        max_failures_per_hour=settings.login_max_failures_per_hour,
        events=events,
    )
    login_flow = LoginFlow(
        accounts,
        limiter,
        sign_in,
        challenges=two_factor,
        max_attempts=settings.login_max_attempts,
        max_failures_per_hour=settings.login_max_failures_per_hour,
        events=events,
    )
    mailer = build_mailer(settings)
    outbox = Outbox(mailer, settings)
    bind_reset_table(settings.password_reset_table)
    passwords = PasswordResets(
        ResetConfig(
            hash_key=settings.app_key_bytes,
            app_url=settings.app_url,
            app_name=settings.app_name,
            url_template=settings.password_reset_url,
            expire_minutes=settings.password_reset_expire_minutes,
            throttle_seconds=settings.password_reset_throttle_seconds,
            reveal_unknown_emails=settings.reveal_unknown_emails,
            revoke_tokens=settings.revoke_tokens_on_password_reset,
        ),
        accounts=accounts,
        hasher=hasher,
        tokens=tokens,
        limiter=limiter,
        outbox=outbox,
        refresh=refresh,
    )
    verification = EmailVerification(
        VerificationConfig(
            app_url=settings.app_url,
            app_key=settings.app_key,
            app_name=settings.app_name,
            expire_minutes=settings.verification_expire_minutes,
        ),
        tokens=tokens,
        outbox=outbox,
    )
    auth = AuthService(
        accounts=accounts,
        tokens=tokens,
        sessions=sessions,
        login_flow=login_flow,
        two_factor=two_factor,
        refresh_tokens=refresh,
        passwords=passwords,
        verification=verification,
        token_name=settings.token_name,
        reveal_unknown_emails=settings.reveal_unknown_emails,
    )
    password_confirmation = PasswordConfirmation(
        hasher=hasher,
        limiter=limiter,
        timeout_seconds=settings.password_timeout,
        max_failures_per_hour=settings.login_max_failures_per_hour,
    )
    return Services(
        settings=settings,
        auth=auth,
        hasher=hasher,
        accounts=accounts,
        tokens=tokens,
        limiter=limiter,
        refresh=refresh,
        two_factor=two_factor,
        password_confirmation=password_confirmation,
        verification=verification,
        encrypter=encrypter,
        outbox=outbox,
        mailer=mailer,
        events=events,
    )


def _limiter(settings: Settings) -> RateLimiter:
    if not settings.redis_url:
        return MemoryRateLimiter()
    redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return RedisRateLimiter(redis, prefix=f"{settings.redis_prefix}throttle:", key_secret=settings.app_key_bytes)


def token_cache_enabled(settings: Settings) -> bool:
    """`auto` caches only where every revocation reaches every cache: with Redis (which carries them to
    every process), or in the one process serving a SQLite file (which `serve` makes sure of: see
    db/ownership.py). Never on PostgreSQL or MariaDB without Redis: other nodes may share them."""
    if settings.token_cache == "auto":
        return bool(settings.redis_url) or (settings.is_sqlite and settings.workers == 1)
    return settings.token_cache == "on"


def _invalidation(settings: Settings, cache: TokenCache) -> CacheInvalidation:
    """With Redis, revocations are published to every process, whether this one caches or not (others may);
    without it they only need to reach this process."""
    if settings.redis_url:
        return RedisInvalidation(cache, settings.redis_url, channel=f"{settings.redis_prefix}token-cache")
    return LocalInvalidation(cache)
