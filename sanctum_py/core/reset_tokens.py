"""Laravel's password-broker tokens (DatabaseTokenRepository): pure functions, no I/O.

The emailed token is `hash_hmac('sha256', Str::random(40), $hashKey)`, 64 lowercase hex characters, where
`$hashKey` is APP_KEY base64-decoded (PasswordBrokerManager). The row keeps only a bcrypt of it. A token
expires `expire` minutes (60) after created_at, and a new one may not be requested within `throttle`
seconds (60) of the last.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sanctum_py.core.hashing import hash_password_sync, verify_password_sync
from sanctum_py.core.tokens import random_string

DEFAULT_EXPIRE_MINUTES = 60  # config('auth.passwords.users.expire')
DEFAULT_THROTTLE_SECONDS = 60  # config('auth.passwords.users.throttle')


def new_token(hash_key: bytes) -> str:
    """createNewToken(): what goes into the reset link. `hash_key` is the decoded APP_KEY."""
    return hmac.new(hash_key, random_string(40).encode("ascii"), hashlib.sha256).hexdigest()


def hash_token(token: str, rounds: int) -> str:
    """The value stored in the token column (Hash::make, bcrypt `$2y$`). Blocking: run it off the loop."""
    return hash_password_sync(token, rounds)


def token_matches(token: str, stored: str) -> bool:
    """Hash::check of a presented token against the stored bcrypt. Blocking: run it off the loop."""
    return verify_password_sync(token, stored)


def is_expired(created_at: datetime | None, now: datetime, expire_minutes: int = DEFAULT_EXPIRE_MINUTES) -> bool:
    """tokenExpired(): `created_at + expire` is in the past. Both datetimes in UTC, both naive or both aware.

    A row without created_at counts as expired (Laravel parses null as "now", so such a row never expires
    there; failing closed is deliberate).
    """
    if created_at is None:
        return True
    return created_at + timedelta(minutes=expire_minutes) < now


def is_throttled(created_at: datetime | None, now: datetime, throttle_seconds: int = DEFAULT_THROTTLE_SECONDS) -> bool:
    """tokenRecentlyCreated(): `created_at + throttle` is still in the future; a throttle <= 0 disables it.

    A row without created_at does not throttle (in Laravel it would block new links for ever, since null
    parses as "now"; a fresh link replaces such a row instead).
    """
    if throttle_seconds <= 0 or created_at is None:
        return False
    return created_at + timedelta(seconds=throttle_seconds) > now
