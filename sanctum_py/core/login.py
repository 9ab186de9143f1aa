"""Password login as one service: throttles, credentials, account state, second factor, session.

Order, as Laravel's login pipeline: a throttled key is refused before any password is checked; a
failed check counts against the login+IP key (5 a minute; the login is the resolved account, see
login_subject) and, when the login names an account,
against that account (100 an hour, OWASP ASVS 2.2.1); a success clears the login+IP key. An inactive
account is refused only after its password matched, so the refusal reveals nothing to someone who does
not know the password.

The account lock must not hand an attacker a way to keep the owner out: an address that has signed in
to the account before (a "known address", remembered KNOWN_ADDRESS_SECONDS in the limiter's store) is
not held by it, only by its own login+IP limit; and a completed password reset clears the account's
count. An unknown login never touches any account's count.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sanctum_py.core.access_tokens import PasswordChanged
from sanctum_py.core.accounts import Accounts
from sanctum_py.core.errors import AuthError, ErrorCode, throttled
from sanctum_py.core.events import NO_EVENTS, AuthEvents
from sanctum_py.core.ratelimit import RateLimiter
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User

LOGIN_DECAY_SECONDS = 60
ACCOUNT_DECAY_SECONDS = 3600
KNOWN_ADDRESS_SECONDS = 90 * 24 * 3600  # renewed at each sign-in from the address


def account_key(user_id: int) -> str:
    """The account's count of failed logins (and of wrong second factors): by resolved account only."""
    return f"login-account:{user_id}"


def login_subject(user: User | None, login: str) -> str:
    """What the login+IP throttle counts: the resolved account, whichever spelling the database matched
    (username or email, any case, MariaDB's accent-insensitive collation, PostgreSQL's U+0130 folding);
    for a login that matches nobody, its text with case and accents folded away, so spelling variants of
    an unknown login share one count too."""
    if user is not None:
        return f"user:{user.id}"
    return f"text:{fold_login(login)}"


def fold_login(login: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, case folded."""
    decomposed = unicodedata.normalize("NFKD", login)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def known_address_key(user_id: int, ip: str) -> str:
    """Set when `ip` completed a sign-in to the account (every factor checked)."""
    return f"login-known:{user_id}|{ip}"


class SessionKind(enum.Enum):
    """The tokens a sign-in hands out: each dialect says which its wire carries."""

    PLAIN = "plain"  # one Sanctum token, no lifetime of its own (Laravel's register)
    SANCTUM = "sanctum"  # one Sanctum token, TOKEN_MINUTES (or REMEMBER_ME_MINUTES) when set (Laravel's login)
    REFRESHABLE = "refreshable"  # an ACCESS_TOKEN_MINUTES access token and a refresh token
    JWT = "jwt"  # REFRESHABLE, both tokens JWTs backed by their rows (core/jwt_tokens.py)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    login: str
    password: str
    ip: str
    remember: bool = False
    device_name: str | None = None
    abilities: list[str] | None = None
    session: SessionKind = SessionKind.SANCTUM
    # Seed 002 names USER_NOT_FOUND: a dialect may ask for it (behind a setting, off by default). The
    # bcrypt check still runs, so only the answer differs, not the time.
    reveal_unknown: bool = False
    # When set (the envelope dialect's tenantId), the account must belong to this tenant: any other
    # account fails exactly as a wrong password does. None: the tenant is not looked at.
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful sign-in hands the client. The plain texts exist only here."""

    user: User
    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None  # seconds the access token lives, when it expires
    expires_at: datetime | None = None  # when the access token expires, when it does
    issued_at: datetime | None = None  # the access token's created_at
    access_token_id: int | None = None  # given when the plain text does not start with `<id>|` (a JWT)

    @property
    def token_id(self) -> int:
        """The access token's row id (the `<id>|` of its plain text, or the JWT's row)."""
        if self.access_token_id is not None:
            return self.access_token_id
        return int(self.access_token.split("|", 1)[0])


@dataclass(frozen=True, slots=True)
class Challenge:
    """The password was right; a second factor is still due."""

    user: User
    challenge_token: str


class SessionStarter(Protocol):
    async def start(
        self,
        user: User,
        *,
        kind: SessionKind,
        name: str,
        abilities: list[str] | None,
        remember: bool,
        password_hash: str | None = None,
    ) -> Session: ...


class ChallengeIssuer(Protocol):
    def required_for(self, user: User) -> bool: ...

    async def issue(self, user: User, attempt: LoginAttempt) -> Challenge:
        """A challenge for `user`, whose password `user.password` was just verified; InvalidCredentials
        when that is no longer the user's password (a reset committed since the check)."""
        ...


@dataclass
class SignIn:
    """The last step of every sign-in, by password or by second factor: the session's tokens, the
    address made known, `last_login_at`. Shared by LoginFlow and the 2FA challenge."""

    accounts: Accounts
    limiter: RateLimiter
    sessions: SessionStarter
    default_token_name: str
    events: AuthEvents = field(default=NO_EVENTS)

    async def complete(self, user: User, attempt: LoginAttempt) -> Session:
        """Start the session of a user whose every factor has been checked, against `user.password` as
        read before the checks: if a password reset committed since, the login fails as a wrong password
        would (the tokens' inserts compare the hash atomically; see db/token_rows.py)."""
        try:
            session = await self.sessions.start(
                user,
                kind=attempt.session,
                name=attempt.device_name or self.default_token_name,
                abilities=attempt.abilities,
                remember=attempt.remember,
                password_hash=user.password,
            )
        except PasswordChanged:
            raise AuthError(ErrorCode.INVALID_CREDENTIALS) from None
        if attempt.ip:  # only a complete sign-in makes an address known: a password alone is not enough
            await self.limiter.mark(known_address_key(user.id, attempt.ip), KNOWN_ADDRESS_SECONDS)
        await self.accounts.record_login(user, utc_now())
        self.events.login("ok")
        return session


@dataclass
class LoginFlow:
    accounts: Accounts
    limiter: RateLimiter
    sign_in: SignIn
    challenges: ChallengeIssuer | None = None
    max_attempts: int = 5
    max_failures_per_hour: int = 100
    events: AuthEvents = field(default=NO_EVENTS)

    async def login(self, attempt: LoginAttempt) -> Session | Challenge:
        user = await self.accounts.find_by_login(attempt.login)
        login_key = f"login:{login_subject(user, attempt.login)}|{attempt.ip}"
        await self._check_throttles(login_key, user, attempt.ip)

        # Always one bcrypt check (the hasher burns a dummy hash for an unknown user): testing `user is None`
        # first would skip it and answer unknown logins ~100x faster, an enumeration oracle.
        password_hash = user.password if user is not None else None
        password_ok = await self.accounts.hasher.verify(attempt.password, password_hash)
        wrong_tenant = user is not None and attempt.tenant_id is not None and user.tenant_id != attempt.tenant_id
        if user is None or not password_ok or wrong_tenant:
            await self.limiter.hit(login_key, LOGIN_DECAY_SECONDS)
            if user is not None:  # an unknown login has no account to count against (a bare "7" is not user 7)
                await self.limiter.hit(account_key(user.id), ACCOUNT_DECAY_SECONDS)
            self.events.login("failed")
            unknown = user is None and attempt.reveal_unknown
            raise AuthError(ErrorCode.USER_NOT_FOUND if unknown else ErrorCode.INVALID_CREDENTIALS)
        await self.limiter.clear(login_key)
        if not user.is_active:
            self.events.login("inactive")
            raise AuthError(ErrorCode.ACCOUNT_INACTIVE)

        try:
            if self.challenges is not None and self.challenges.required_for(user):
                return await self.challenges.issue(user, attempt)
            return await self.sign_in.complete(user, attempt)
        except AuthError as error:
            if error.code is ErrorCode.INVALID_CREDENTIALS:  # a password reset committed since the check
                self.events.login("failed")
            raise

    async def _check_throttles(self, login_key: str, user: User | None, ip: str) -> None:
        """TOO_MANY_ATTEMPTS when the login+IP key, or the account from an unknown address, is spent."""
        retry_after = await self.limiter.blocked_for(login_key, self.max_attempts)
        if retry_after is not None:
            self.events.login("throttled")
            raise throttled(self.max_attempts, retry_after)
        if user is None:
            return
        retry_after = await self._account_blocked_for(user.id, ip)
        if retry_after is not None:
            self.events.login("throttled")
            raise throttled(self.max_failures_per_hour, retry_after)

    async def _account_blocked_for(self, user_id: int, ip: str) -> int | None:
        """Seconds the account stays locked for `ip`; None when it is not, or `ip` is a known address.
        The known-address lookup runs only while the account is locked: nothing extra on a normal login."""
        retry_after = await self.limiter.blocked_for(account_key(user_id), self.max_failures_per_hour)
        if retry_after is None or (ip and await self.limiter.is_marked(known_address_key(user_id, ip))):
            return None
        return retry_after
