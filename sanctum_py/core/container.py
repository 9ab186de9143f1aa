"""The service objects of one process, built from Settings. Usable without HTTP (CLI, scripts, tests)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.accounts import Accounts
from sanctum_py.core.encrypter import Encrypter
from sanctum_py.core.events import NO_EVENTS, AuthEvents
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.core.login import LoginFlow
from sanctum_py.core.password_confirmation import PasswordConfirmation
from sanctum_py.core.passwords import PasswordResets, ResetConfig, SessionRevoker, bind_reset_table
from sanctum_py.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from sanctum_py.core.refresh import RefreshTokens
from sanctum_py.core.sessions import TokenSessions
from sanctum_py.core.token_cache import TokenCache
from sanctum_py.core.two_factor_auth import TwoFactorAuth
from sanctum_py.core.verification import EmailVerification, VerificationConfig
from sanctum_py.mail import Mailer, build_mailer
from sanctum_py.mail.outbox import Outbox
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
    two_factor: TwoFactorAuth
    outbox: Outbox
    passwords: PasswordResets
    verification: EmailVerification
    password_confirmation: PasswordConfirmation
    refresh: RefreshTokens | None = None  # set when REFRESH_TOKENS is on
    events: AuthEvents = NO_EVENTS  # who hears about logins, tokens and outages (metrics, when on)

    @classmethod
    def build(cls, settings: Settings, events: AuthEvents = NO_EVENTS) -> Services:
        hasher = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_threads)
        limiter = _limiter(settings)
        accounts = Accounts(hasher, case_insensitive=settings.case_insensitive_identifiers)
        tokens = AccessTokens(
            tokenable_type=settings.tokenable_type,
            prefix=settings.sanctum_token_prefix,
            expiration_minutes=settings.sanctum_expiration,
            last_used_interval=settings.last_used_write_interval,
            cache=TokenCache(ttl=settings.token_cache_seconds if token_cache_enabled(settings) else 0),
            events=events,
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
            events=events,
        )
        encrypter = Encrypter(settings.app_key_bytes)
        refresh = _refresh_tokens(settings, sessions, limiter, encrypter, events)
        mailer = build_mailer(settings)
        two_factor = TwoFactorAuth(
            encrypter=encrypter,
            sessions=login,
            app_name=settings.app_name,
            window=settings.two_factor_window,
            challenge_seconds=settings.two_factor_challenge_seconds,
            max_attempts=settings.two_factor_challenge_attempts,
            cache=tokens.cache,
            limiter=limiter,
            max_failures_per_hour=settings.login_max_failures_per_hour,
            events=events,
        )
        login.challenges = two_factor
        outbox, passwords, verification = _account_mail_flows(
            settings, mailer, accounts, hasher, tokens, limiter, refresh
        )
        return cls(
            settings,
            hasher,
            accounts,
            tokens,
            limiter,
            sessions,
            login,
            encrypter,
            mailer,
            two_factor=two_factor,
            outbox=outbox,
            passwords=passwords,
            verification=verification,
            password_confirmation=PasswordConfirmation(
                hasher=hasher,
                limiter=limiter,
                timeout_seconds=settings.password_timeout,
                max_failures_per_hour=settings.login_max_failures_per_hour,
            ),
            refresh=refresh,
            events=events,
        )

    async def close(self) -> None:
        await self.outbox.drain()
        await self.tokens.drain()
        if self.refresh is not None:
            await self.refresh.close()
        await self.limiter.close()
        self.hasher.close()


def _account_mail_flows(
    settings: Settings,
    mailer: Mailer,
    accounts: Accounts,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    limiter: RateLimiter,
    refresh: SessionRevoker | None,
) -> tuple[Outbox, PasswordResets, EmailVerification]:
    """Password reset and email verification, which mail after answering through one Outbox."""
    bind_reset_table(settings.password_reset_table)
    outbox = Outbox(mailer, settings)
    reset = ResetConfig(
        hash_key=settings.app_key_bytes,
        app_url=settings.app_url,
        app_name=settings.app_name,
        url_template=settings.password_reset_url,
        expire_minutes=settings.password_reset_expire_minutes,
        throttle_seconds=settings.password_reset_throttle_seconds,
        reveal_unknown_emails=settings.reveal_unknown_emails,
        revoke_tokens=settings.revoke_tokens_on_password_reset,
    )
    verify = VerificationConfig(
        app_url=settings.app_url,
        app_key=settings.app_key,
        app_name=settings.app_name,
        expire_minutes=settings.verification_expire_minutes,
    )
    passwords = PasswordResets(
        reset, accounts=accounts, hasher=hasher, tokens=tokens, limiter=limiter, outbox=outbox, refresh=refresh
    )
    return outbox, passwords, EmailVerification(verify, tokens=tokens, outbox=outbox)


def _refresh_tokens(
    settings: Settings, sessions: TokenSessions, limiter: RateLimiter, encrypter: Encrypter, events: AuthEvents
) -> RefreshTokens | None:
    """With REFRESH_TOKENS on, logins also get a refresh token and access tokens expire."""
    if not settings.refresh_tokens:
        return None
    refresh = RefreshTokens(
        tokens=sessions.tokens,
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
    sessions.refresh = refresh
    sessions.access_minutes = settings.access_token_minutes
    return refresh


def _limiter(settings: Settings) -> RateLimiter:
    if not settings.redis_url:
        return MemoryRateLimiter()
    redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return RedisRateLimiter(redis, prefix=f"{settings.redis_prefix}throttle:", key_secret=settings.app_key_bytes)


def token_cache_enabled(settings: Settings) -> bool:
    """`auto` caches only where a revocation can reach every cache: one process, no shared state."""
    if settings.token_cache == "auto":
        return settings.workers == 1 and not settings.redis_url
    return settings.token_cache == "on"
