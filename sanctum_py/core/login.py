"""Password login as one service: throttles, credentials, account state, second factor, session.

Order, as Laravel's login pipeline: a throttled key is refused before any password is checked; a
failed check counts against the login+IP key (5 a minute) and against the account (100 an hour,
OWASP ASVS 2.2.1); a success clears the login+IP key. An inactive account is refused only after its
password matched, so the refusal reveals nothing to someone who does not know the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sanctum_py.core.accounts import Accounts
from sanctum_py.core.events import NO_EVENTS, AuthEvents
from sanctum_py.core.ratelimit import RateLimiter
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User

LOGIN_DECAY_SECONDS = 60
ACCOUNT_DECAY_SECONDS = 3600


class LoginThrottled(Exception):
    def __init__(self, retry_after: int, max_attempts: int) -> None:
        super().__init__("Too Many Attempts.")
        self.retry_after = retry_after
        self.max_attempts = max_attempts


class InvalidCredentials(Exception):
    """Unknown login or wrong password: indistinguishable on purpose."""


class AccountInactive(Exception):
    """The password matched, but the account has been deactivated."""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    login: str
    password: str
    ip: str
    remember: bool = False
    device_name: str | None = None
    abilities: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful sign-in hands the client. The plain texts exist only here."""

    user: User
    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None  # seconds the access token lives, when it expires


@dataclass(frozen=True, slots=True)
class Challenge:
    """The password was right; a second factor is still due."""

    user: User
    challenge_token: str


class SessionStarter(Protocol):
    async def start(self, user: User, *, name: str, abilities: list[str] | None, remember: bool) -> Session: ...


class ChallengeIssuer(Protocol):
    def required_for(self, user: User) -> bool: ...

    async def issue(self, user: User, attempt: LoginAttempt) -> Challenge: ...


@dataclass
class LoginFlow:
    accounts: Accounts
    limiter: RateLimiter
    sessions: SessionStarter
    default_token_name: str
    max_attempts: int = 5
    max_failures_per_hour: int = 100
    challenges: ChallengeIssuer | None = field(default=None)
    events: AuthEvents = field(default=NO_EVENTS)

    async def login(self, attempt: LoginAttempt) -> Session | Challenge:
        user = await self.accounts.find_by_login(attempt.login)
        login_key = f"login:{attempt.login.lower()}|{attempt.ip}"
        # Per account whichever identifier was typed; an unknown login is limited by its text.
        account_key = f"login-account:{user.id if user is not None else attempt.login.lower()}"
        for key, limit in ((login_key, self.max_attempts), (account_key, self.max_failures_per_hour)):
            retry_after = await self.limiter.blocked_for(key, limit)
            if retry_after is not None:
                self.events.login("throttled")
                raise LoginThrottled(retry_after, limit)

        # Always one bcrypt check (the hasher burns a dummy hash for an unknown user): testing `user is None`
        # first would skip it and answer unknown logins ~100x faster, an enumeration oracle.
        password_hash = user.password if user is not None else None
        password_ok = await self.accounts.hasher.verify(attempt.password, password_hash)
        if user is None or not password_ok:
            await self.limiter.hit(login_key, LOGIN_DECAY_SECONDS)
            await self.limiter.hit(account_key, ACCOUNT_DECAY_SECONDS)
            self.events.login("failed")
            raise InvalidCredentials
        await self.limiter.clear(login_key)
        if not user.is_active:
            self.events.login("inactive")
            raise AccountInactive

        if self.challenges is not None and self.challenges.required_for(user):
            return await self.challenges.issue(user, attempt)
        return await self.complete(user, attempt)

    async def complete(self, user: User, attempt: LoginAttempt) -> Session:
        """Start the session of a user whose every factor has been checked."""
        session = await self.sessions.start(
            user,
            name=attempt.device_name or self.default_token_name,
            abilities=attempt.abilities,
            remember=attempt.remember,
        )
        await self.accounts.record_login(user, utc_now())
        self.events.login("ok")
        return session
