"""Password reset: Laravel's password broker (DatabaseTokenRepository) and Fortify's reset action.

Plain async Python, no HTTP. Rows are Laravel's own: one per email, `token` = bcrypt of the 64-hex
token that was mailed, `created_at`; a token written by Laravel works here and the reverse.

Existence of an account is never revealed unless `reveal_unknown_emails` asks for Laravel's answers:
- a reset link is asked for: the per-email throttle (the rate limiter, keyed by the lower-cased email
  whether or not an account has it) is checked first, then the account is looked up, and the answer is
  given right away; issuing the link (bcrypt, row, mail) runs after the answer, and an unknown email
  costs the same bcrypt work there. Nothing the client can time depends on whether the account exists.
- a reset is attempted: exactly one bcrypt check runs whether the account, the row, or neither exists.
Single use: the request that deletes the verified row (DELETE ... WHERE email AND token, one row
affected) wins, in the same transaction as the new password; every concurrent one gets "invalid".
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.accounts import Accounts
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.core.login import account_key
from sanctum_py.core.ratelimit import RateLimiter
from sanctum_py.core.reset_tokens import is_expired, is_throttled, new_token
from sanctum_py.core.tokens import random_string
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PasswordResetToken, TwoFactorChallenge, User
from sanctum_py.mail import texts
from sanctum_py.mail.outbox import Outbox

SELF_IDENTIFYING_SEPARATOR = "."  # `<user id>.<broker token>`: neither part contains a dot
REMEMBER_TOKEN_LENGTH = 60  # Str::random(60), as Fortify's CompletePasswordReset writes it


class ResetStatus(enum.Enum):
    """Laravel's PasswordBroker statuses (the keys of lang/en/passwords.php)."""

    SENT = "passwords.sent"
    THROTTLED = "passwords.throttled"
    INVALID_USER = "passwords.user"
    INVALID_TOKEN = "passwords.token"
    RESET = "passwords.reset"


class SessionRevoker(Protocol):
    async def revoke_all_for(self, user_id: int) -> None:
        """End every session of the user (refresh-token families)."""
        ...


def bind_reset_table(table: str) -> None:
    """Point the PasswordResetToken model at `password_reset_table` (Laravel 8/9: `password_resets`).

    Must run before Tortoise is initialised, which builds each model's table reference once.
    """
    PasswordResetToken._meta.db_table = table


@dataclass(frozen=True, slots=True)
class ResetConfig:
    hash_key: bytes  # the decoded APP_KEY: the HMAC key of new tokens
    app_url: str
    app_name: str
    url_template: str  # with {app_url}, {token}, {email}
    expire_minutes: int = 60
    throttle_seconds: int = 60
    reveal_unknown_emails: bool = False
    revoke_tokens: bool = True

    def __post_init__(self) -> None:
        try:  # a misspelt placeholder fails at start-up, not in the middle of a request
            self.url_template.format(app_url="", token="", email="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("PASSWORD_RESET_URL may only use {app_url}, {token} and {email}") from exc


class PasswordResets:
    def __init__(
        self,
        config: ResetConfig,
        *,
        accounts: Accounts,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        limiter: RateLimiter,
        outbox: Outbox,
        refresh: SessionRevoker | None = None,
    ) -> None:
        self.config = config
        self.accounts = accounts
        self.hasher = hasher
        self.tokens = tokens
        self.limiter = limiter
        self.outbox = outbox
        self.refresh = refresh  # refresh tokens, when enabled, die with the access tokens

    # --- POST /forgot-password ---------------------------------------------------------------------

    async def send_reset_link(
        self, email: str, *, self_identifying: bool = False, never_reveal: bool = False
    ) -> ResetStatus:
        """SENT, THROTTLED or INVALID_USER. Without reveal_unknown_emails (or with `never_reveal`, for wires
        that must not tell, not even by time), callers must answer INVALID_USER and THROTTLED exactly as
        SENT. With `self_identifying`, the mailed token is `<user id>.<broker token>` (see reset_by_token);
        the row is the same bcrypt of the broker token."""
        if self.config.reveal_unknown_emails and not never_reveal:
            return await self._send_revealing(email, self_identifying)
        if not await self._throttle_allows(email):
            return ResetStatus.THROTTLED
        user = await self.accounts.find_by_email(email)
        # The same job either way: for an unknown email it does the reads and the bcrypt, then stops.
        self.outbox.run(self._issue(user, email, self_identifying), "password-reset")
        return ResetStatus.SENT if user is not None else ResetStatus.INVALID_USER

    async def _send_revealing(self, email: str, self_identifying: bool = False) -> ResetStatus:
        """Laravel's broker order: unknown user, then throttled, then create and notify."""
        user = await self.accounts.find_by_email(email)
        if user is None:
            return ResetStatus.INVALID_USER
        if not await self._throttle_allows(email) or not await self._issue(user, email, self_identifying):
            return ResetStatus.THROTTLED
        return ResetStatus.SENT

    async def _throttle_allows(self, email: str) -> bool:
        """One link per email per throttle window across every worker (the limiter is shared through
        Redis when configured). The key is a digest: addresses never sit in Redis in clear."""
        if self.config.throttle_seconds <= 0:
            return True
        digest = hashlib.sha256(email.lower().encode("utf-8", "surrogatepass")).hexdigest()
        attempt = await self.limiter.attempt(f"password-reset:{digest}", 1, self.config.throttle_seconds)
        return attempt.allowed

    async def _issue(self, user: User | None, email: str, self_identifying: bool = False) -> bool:
        """DatabaseTokenRepository::create + the ResetPassword notification; False when nothing was sent:
        no account (after the same reads and bcrypt as a real link), or a link created within the
        throttle window (tokenRecentlyCreated: a second guard that also holds across restarts, for
        every worker, and for rows Laravel wrote)."""
        row = await PasswordResetToken.filter(email=user.email if user is not None else email).first()
        token = new_token(self.config.hash_key)
        stored = await self.hasher.hash(token)
        if user is None or (row is not None and is_throttled(row.created_at, utc_now(), self.config.throttle_seconds)):
            return False
        try:
            async with in_transaction():
                await PasswordResetToken.filter(email=user.email).delete()
                await PasswordResetToken.create(email=user.email, token=stored, created_at=utc_now())
        except IntegrityError:  # a concurrent request inserted this email's row first: it sends the link
            return False
        mailed = f"{user.id}{SELF_IDENTIFYING_SEPARATOR}{token}" if self_identifying else token
        self.outbox.run(self._mail_link(user, mailed), "password-reset")
        return True

    def reset_url(self, token: str, email: str) -> str:
        app_url = self.config.app_url.rstrip("/")
        return self.config.url_template.format(app_url=app_url, token=token, email=quote(email, safe=""))

    async def _mail_link(self, user: User, token: str) -> None:
        message = texts.reset_link(
            user.email,
            link=self.reset_url(token, user.email),
            token=token,
            expire_minutes=self.config.expire_minutes,
            app_name=self.config.app_name,
        )
        await self.outbox.deliver(message, "reset")

    # --- POST /reset-password ----------------------------------------------------------------------

    async def reset(self, email: str, token: str | None, password: str) -> ResetStatus:
        """RESET, INVALID_USER or INVALID_TOKEN (a missing, expired, wrong or already used token).
        `token` None (not a string on the wire) never matches."""
        user = await self.accounts.find_by_email(email)
        # The same reads and one bcrypt check on every path: against the row when there is a live one,
        # else against a dummy hash.
        row = await PasswordResetToken.filter(email=user.email if user is not None else email).first()
        live = row is not None and not is_expired(row.created_at, utc_now(), self.config.expire_minutes)
        matches = await self.hasher.verify(token or "", row.token if row is not None and live else None)
        if user is None:
            return ResetStatus.INVALID_USER
        if row is None or not matches or token is None:
            return ResetStatus.INVALID_TOKEN
        password_hash = await self.hasher.hash(password)
        now = utc_now()
        async with in_transaction():
            # The single-use decision: only one request can delete the row it verified.
            if not await PasswordResetToken.filter(email=user.email, token=row.token).delete():
                return ResetStatus.INVALID_TOKEN
            await PasswordResetToken.filter(email=user.email).delete()  # any stray duplicate (Laravel 8 table)
            await User.filter(id=user.id).update(
                password=password_hash, remember_token=random_string(REMEMBER_TOKEN_LENGTH), updated_at=now
            )
            # Challenges were earned with the old password: they end with it. Logins still checking the
            # old one get nothing: their inserts require the old hash (db/token_rows.py), and this UPDATE's
            # row lock makes them wait for this commit and see the new one.
            await TwoFactorChallenge.filter(user_id=user.id).delete()
        # The owner proved control of the mailbox: a flood of failed logins no longer holds the account.
        await self.limiter.clear(account_key(user.id))
        if self.config.revoke_tokens:
            if self.refresh is not None:
                await self.refresh.revoke_all_for(user.id)
            await self.tokens.revoke_all_for(user.id)
        else:
            await self.tokens.user_changed(user.id)  # cached copies of the user carry the old row
        self.outbox.run(self._mail_changed(user), "password-changed")
        return ResetStatus.RESET

    async def reset_by_token(self, token: str | None, password: str) -> ResetStatus:
        """A reset whose token alone says whose it is: `<user id>.<broker token>` (the envelope dialect's
        confirm carries no email). The id only picks the row; the broker token is still checked against
        its bcrypt, so the id part grants nothing. Malformed tokens and unknown ids take the same path as
        an unknown email in reset(): the same reads and one bcrypt check, then INVALID_TOKEN."""
        user_id, _, broker_token = (token or "").partition(SELF_IDENTIFYING_SEPARATOR)
        user = None
        if user_id.isascii() and user_id.isdigit() and len(user_id) < 19 and broker_token:
            user = await User.get_or_none(id=int(user_id))
        # No account has an empty email (it is required): reset() burns its dummy bcrypt, says INVALID_USER.
        email = user.email if user is not None else ""
        status = await self.reset(email, broker_token if user is not None else None, password)
        return ResetStatus.INVALID_TOKEN if status is ResetStatus.INVALID_USER else status

    async def _mail_changed(self, user: User) -> None:
        message = texts.password_changed(
            user.email, signed_out=self.config.revoke_tokens, app_name=self.config.app_name
        )
        await self.outbox.deliver(message, "password-changed")
