"""Fortify's password confirmation, per token: the token stands in for Laravel's session.

Fortify's ConfirmablePasswordController puts `auth.password_confirmed_at` (time()) in the session when
the password checks out; Laravel's RequirePassword middleware (`password.confirm`) then lets a request
through while `time() - confirmed_at <= auth.password_timeout`. Here the time is kept on the token that
confirmed (`personal_access_tokens.password_confirmed_at`), so confirming with one device unlocks nothing
for another, and a new login starts unconfirmed as a new session does.

A wrong password counts against the account's hourly budget of failed logins, as a wrong second factor
does (TwoFactorAuth): a confirmation is one more place to test a password, so it must not add guesses.
The confirmation time is read only by the routes that ask for it, never by the token check of every request.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sanctum_py.core.errors import throttled
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.core.login import ACCOUNT_DECAY_SECONDS, account_key
from sanctum_py.core.ratelimit import RateLimiter
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import TokenPasswordConfirmation, User

NEVER = 0  # Laravel's session default: confirmed at the epoch, so never within any timeout


class PasswordConfirmation:
    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        timeout_seconds: int = 10800,
        max_failures_per_hour: int = 100,
    ) -> None:
        self.hasher = hasher
        self.limiter = limiter
        self.timeout_seconds = timeout_seconds
        self.max_failures_per_hour = max_failures_per_hour

    async def confirm(self, user_id: int, token_id: int, password: str | None) -> bool:
        """ConfirmablePasswordController::store. False for a wrong (or unusable) password; TOO_MANY_ATTEMPTS
        once the account's failure budget is spent, whatever the password."""
        key = account_key(user_id)
        retry_after = await self.limiter.blocked_for(key, self.max_failures_per_hour)
        if retry_after is not None:
            raise throttled(self.max_failures_per_hour, retry_after)
        # Read afresh, not from the token cache: the hash may have changed within TOKEN_CACHE_SECONDS.
        # cast: Tortoise types values_list(..., flat=True) as a tuple; after first() it gives the one value.
        stored = cast("str | None", await User.filter(id=user_id).first().values_list("password", flat=True))
        matched = password is not None and await self.hasher.verify(password, stored if stored else None)
        if not matched:
            await self.limiter.hit(key, ACCOUNT_DECAY_SECONDS)
            return False
        await TokenPasswordConfirmation.filter(id=token_id).update(password_confirmed_at=utc_now())
        return True

    async def seconds_since(self, token_id: int) -> int:
        """Seconds since this token last confirmed its password (since the epoch if it never did)."""
        confirmed_at = (
            await TokenPasswordConfirmation.filter(id=token_id).first().values_list("password_confirmed_at", flat=True)
        )
        confirmed = int(confirmed_at.timestamp()) if isinstance(confirmed_at, datetime) else NEVER
        return int(utc_now().timestamp()) - confirmed

    async def required(self, token_id: int) -> bool:
        """RequirePassword::shouldConfirmPassword: more than the timeout since the last confirmation."""
        return await self.seconds_since(token_id) > self.timeout_seconds
