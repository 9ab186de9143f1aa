"""Two-factor authentication as a service: Fortify's actions on Fortify's columns, and the login challenge.

Storage is Fortify's: `two_factor_secret` and `two_factor_recovery_codes` hold Laravel `encrypt()` payloads
(APP_KEY, PHP-serialised), `two_factor_confirmed_at` marks a confirmed setup, so a Fortify database keeps
working in both directions. Every single-use secret is spent by one conditional UPDATE, so two concurrent
requests presenting it cannot both succeed, on any worker:

- a TOTP code moves `two_factor_last_timestep` forward (`WHERE last IS NULL OR last < step`);
- a recovery code swaps the encrypted list for one where it has been replaced (`WHERE codes = <old payload>`);
- a challenge counts an attempt before any code is checked (`WHERE attempts < max`), so no more than `max`
  codes are ever tried against one challenge however many requests race, and is spent by
  `WHERE used_at IS NULL`.

Fortify keeps the challenged login in the session; a token API has none, so the login answers a
short-lived challenge token instead (`<id>|<secret>`, stored as sha256 of the secret, as Sanctum's tokens).
Since a new challenge is one password login away, a wrong second factor also counts against the account's
hourly budget of failed logins (LoginFlow's, OWASP ASVS 2.2.1): once it is spent, both the password login
and the challenge answer 429, whichever challenge or address the guesses come from, except at an address
that completed a sign-in to the account before (a known address, as LoginFlow spares it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from tortoise.expressions import F, Q

from sanctum_py.core import two_factor
from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.encrypter import DecryptException, Encrypter
from sanctum_py.core.errors import AuthError, ErrorCode, throttled
from sanctum_py.core.events import NO_EVENTS, AuthEvents, LoginOutcome
from sanctum_py.core.login import (
    ACCOUNT_DECAY_SECONDS,
    Challenge,
    LoginAttempt,
    Session,
    SessionKind,
    account_key,
    known_address_key,
)
from sanctum_py.core.ratelimit import RateLimiter
from sanctum_py.core.tokens import hash_secret, random_string
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import TwoFactorChallenge, User, decode_abilities
from sanctum_py.db.secret_rows import find_by_plain_text
from sanctum_py.db.token_rows import db_values, insert_if_password

log = logging.getLogger("sanctum_py.two_factor")

# How a refused challenge is counted (events.login): a throttle or an inactive account, else a failure.
_OUTCOMES: dict[ErrorCode, LoginOutcome] = {
    ErrorCode.TOO_MANY_ATTEMPTS: "throttled",
    ErrorCode.ACCOUNT_INACTIVE: "inactive",
}

CHALLENGE_SECRET_LENGTH = 40
RECOVERY_SWAP_RETRIES = 5  # another code of the same user spent meanwhile: read again and retry
PURGE_BATCH = 100
# The columns a new challenge writes, in the order of issue()'s values.
_CHALLENGE_COLUMNS = (
    "user_id",
    "token",
    "attempts",
    "remember",
    "device_name",
    "abilities",
    "expires_at",
    "created_at",
)


def invalid_code(recovery: bool = False) -> AuthError:
    """A wrong (or already used) code, keyed `recovery_code` when one was sent, else `code` (Fortify's
    FailedTwoFactorLoginResponse). Unknown, forged, expired, spent and exhausted challenges fail the same
    way as a wrong code, as Fortify answers when the session holds no challenged user."""
    return AuthError(ErrorCode.INVALID_TWO_FACTOR_CODE, fields=("recovery_code" if recovery else "code",))


class SessionCompleter(Protocol):
    async def complete(self, user: User, attempt: LoginAttempt) -> Session: ...


@dataclass(frozen=True, slots=True)
class QrCode:
    svg: str
    url: str


class TwoFactorAuth:
    def __init__(
        self,
        *,
        encrypter: Encrypter,
        sessions: SessionCompleter,
        app_name: str,
        window: int = two_factor.DEFAULT_WINDOW,
        challenge_seconds: int = 300,
        max_attempts: int = 5,
        tokens: AccessTokens | None = None,
        limiter: RateLimiter | None = None,
        max_failures_per_hour: int = 100,
        clock: Callable[[], float] = time.time,
        events: AuthEvents = NO_EVENTS,
    ) -> None:
        self.encrypter = encrypter
        self.sessions = sessions
        self.app_name = app_name
        self.window = window
        self.challenge_seconds = challenge_seconds
        self.max_attempts = max_attempts
        self.tokens = tokens
        self.limiter = limiter
        self.max_failures_per_hour = max_failures_per_hour
        self.clock = clock  # unix time the TOTP checks use
        self.events = events

    # --- setup (Fortify's actions) ----------------------------------------------------------------

    async def enable(self, user_id: int, *, force: bool = False) -> None:
        """EnableTwoFactorAuthentication: a new secret and 8 recovery codes, unless a secret exists
        (or `force`). Concurrent first enables: one writes, the others find its secret.

        Unlike Fortify, a new secret is never confirmed: a forced re-enable also clears
        `two_factor_confirmed_at`, so logins stop asking for a code until one made with the new secret
        confirms it (Fortify keeps the confirmation, and the owner, whose app holds the old secret, is
        locked out). The replay guard's last step belonged to the old secret too."""
        query = User.filter(id=user_id)
        if not force:
            query = query.filter(two_factor_secret__isnull=True)
        codes = two_factor.encode_recovery_codes(two_factor.generate_recovery_codes())
        await query.update(
            two_factor_secret=self.encrypter.encrypt(two_factor.generate_secret()),
            two_factor_recovery_codes=self.encrypter.encrypt(codes),
            two_factor_confirmed_at=None,
            two_factor_last_timestep=None,
            updated_at=utc_now(),
        )
        await self._changed(user_id)

    async def confirm(self, user_id: int, code: object) -> None:
        """ConfirmTwoFactorAuthentication: a valid code for the stored secret sets two_factor_confirmed_at."""
        user = await User.get_or_none(id=user_id)
        if user is None or not isinstance(code, str) or not code or not await self._spend_totp(user, code):
            raise invalid_code()
        now = utc_now()
        confirmed = await User.filter(id=user_id, two_factor_secret=user.two_factor_secret).update(
            two_factor_confirmed_at=now, updated_at=now
        )
        if not confirmed:  # disabled or re-enabled while the code was being checked
            raise invalid_code()
        await self._changed(user_id)

    async def disable(self, user_id: int) -> None:
        """DisableTwoFactorAuthentication (with Fortify's `confirm` option): every 2FA column back to NULL."""
        await User.filter(id=user_id).update(
            two_factor_secret=None,
            two_factor_recovery_codes=None,
            two_factor_confirmed_at=None,
            two_factor_last_timestep=None,
            updated_at=utc_now(),
        )
        await self._changed(user_id)

    async def qr_code(self, user_id: int) -> QrCode | None:
        """TwoFactorQrCodeController: None when no secret. The holder is the email (Fortify::username())."""
        user = await User.get_or_none(id=user_id)
        if user is None or not user.two_factor_secret:
            return None
        url = two_factor.otpauth_url(self.app_name, user.email, self.encrypter.decrypt(user.two_factor_secret))
        return QrCode(svg=two_factor.qr_code_svg(url), url=url)

    async def secret_key(self, user_id: int) -> str | None:
        user = await User.get_or_none(id=user_id)
        if user is None or not user.two_factor_secret:
            return None
        return self.encrypter.decrypt(user.two_factor_secret)

    async def recovery_codes(self, user_id: int) -> list[str]:
        """RecoveryCodeController::index: [] unless both a secret and codes are stored."""
        user = await User.get_or_none(id=user_id)
        if user is None or not user.two_factor_secret or not user.two_factor_recovery_codes:
            return []
        return two_factor.decode_recovery_codes(self.encrypter.decrypt(user.two_factor_recovery_codes))

    async def regenerate_recovery_codes(self, user_id: int) -> None:
        """GenerateNewRecoveryCodes: 8 fresh codes. Unlike Fortify, nothing is written for a user
        without a secret (Fortify stores codes nobody can list or use)."""
        codes = two_factor.encode_recovery_codes(two_factor.generate_recovery_codes())
        await User.filter(id=user_id, two_factor_secret__isnull=False).update(
            two_factor_recovery_codes=self.encrypter.encrypt(codes), updated_at=utc_now()
        )
        await self._changed(user_id)

    # --- the login challenge (LoginFlow's ChallengeIssuer) -----------------------------------------

    def required_for(self, user: User) -> bool:
        """RedirectIfTwoFactorAuthenticatable with `confirm`: a secret and a confirmed setup."""
        return bool(user.two_factor_secret) and user.two_factor_confirmed_at is not None

    async def issue(self, user: User, attempt: LoginAttempt) -> Challenge:
        """A challenge for the login that verified `user.password`, written only while that is still the
        user's password (one statement, db/token_rows.py): a reset that committed since the check leaves
        INVALID_CREDENTIALS, and one that commits later deletes the challenge."""
        await self._purge_dead_challenges()
        secret = random_string(CHALLENGE_SECRET_LENGTH)
        now = utc_now()
        given = (
            user.id,
            hash_secret(secret),
            0,
            attempt.remember,
            attempt.device_name,
            json.dumps(attempt.abilities) if attempt.abilities is not None else None,
            now + timedelta(seconds=self.challenge_seconds),
            now,
        )
        row = db_values(TwoFactorChallenge, _CHALLENGE_COLUMNS, given)
        challenge_id = await insert_if_password(TwoFactorChallenge, row, user_id=user.id, password_hash=user.password)
        if challenge_id is None:
            raise AuthError(ErrorCode.INVALID_CREDENTIALS)
        return Challenge(user, f"{challenge_id}|{secret}")

    async def complete_challenge(
        self,
        token: str,
        code: str | None,
        recovery_code: str | None,
        ip: str = "",
        session: SessionKind = SessionKind.SANCTUM,
    ) -> Session:
        """TwoFactorAuthenticatedSessionController::store: a recovery code first, else a TOTP code;
        then the session the password login would have started (which reports the login as "ok").
        `ip`, the client's address, exempts a known address from the account lock, as at login."""
        try:
            return await self._complete_challenge(token, code, recovery_code, ip, session)
        except AuthError as error:
            self.events.login(_OUTCOMES.get(error.code, "failed"))
            raise

    async def _complete_challenge(
        self, token: str, code: str | None, recovery_code: str | None, ip: str, session: SessionKind
    ) -> Session:
        failure = invalid_code(recovery=bool(recovery_code))
        challenge = await self._find_challenge(token)
        if challenge is None:
            raise failure
        await self._check_account_budget(challenge.user_id, ip)
        if not await self._count_attempt(challenge):
            raise failure
        user = await User.get_or_none(id=challenge.user_id)
        if user is None or not self.required_for(user):
            raise failure
        passed = bool(recovery_code) and await self._spend_recovery_code(user, recovery_code or "")
        if not passed:
            passed = bool(code) and await self._spend_totp(user, code or "")
        if not passed:
            if self.limiter is not None:
                await self.limiter.hit(account_key(user.id), ACCOUNT_DECAY_SECONDS)
            raise failure
        spent = await TwoFactorChallenge.filter(id=challenge.id, used_at__isnull=True).update(used_at=utc_now())
        if not spent:  # another request completed this challenge first
            raise failure
        if not user.is_active:  # refused only once both factors matched, as the password login does
            raise AuthError(ErrorCode.ACCOUNT_INACTIVE)
        attempt = LoginAttempt(
            login=user.email,
            password="",
            ip=ip,
            remember=challenge.remember,
            device_name=challenge.device_name,
            abilities=decode_abilities(challenge.abilities) if challenge.abilities is not None else None,
            session=session,
        )
        try:
            return await self.sessions.complete(user, attempt)
        except AuthError as error:
            if error.code is ErrorCode.INVALID_CREDENTIALS:  # a password reset committed meanwhile
                raise failure from None
            raise

    async def _find_challenge(self, token: str) -> TwoFactorChallenge | None:
        """Sanctum's findToken applied to challenge tokens: find the id, compare the hash in constant time."""
        return await find_by_plain_text(TwoFactorChallenge, token)

    async def _check_account_budget(self, user_id: int, ip: str) -> None:
        """The account lock of LoginFlow, with its known-address exemption."""
        if self.limiter is None:
            return
        retry_after = await self.limiter.blocked_for(account_key(user_id), self.max_failures_per_hour)
        if retry_after is not None and ip and await self.limiter.is_marked(known_address_key(user_id, ip)):
            return
        if retry_after is not None:
            raise throttled(self.max_failures_per_hour, retry_after)

    async def _count_attempt(self, challenge: TwoFactorChallenge) -> bool:
        """One attempt of a live challenge, counted before its code is looked at; False once it is
        spent, expired or out of attempts."""
        counted = await TwoFactorChallenge.filter(
            id=challenge.id,
            used_at__isnull=True,
            attempts__lt=self.max_attempts,
            expires_at__gt=utc_now(),
        ).update(attempts=F("attempts") + 1)
        return counted == 1

    async def _purge_dead_challenges(self) -> None:
        """Drop spent and expired challenges, by primary key (no range locks to deadlock on)."""
        dead = (
            await TwoFactorChallenge.filter(Q(used_at__isnull=False) | Q(expires_at__lte=utc_now()))
            .order_by("id")
            .limit(PURGE_BATCH)
            .values_list("id", flat=True)
        )
        if dead:
            await TwoFactorChallenge.filter(id__in=list(dead)).delete()

    # --- spending codes -----------------------------------------------------------------------------

    async def _spend_totp(self, user: User, code: str) -> bool:
        """True when `code` is valid now and this request is the one that moved the user's last
        accepted step past it. Also fails if the secret changed since `user` was read."""
        stored = user.two_factor_secret
        secret = self._decrypt(user, stored)
        if stored is None or secret is None:
            return False
        try:
            step = two_factor.verify(secret, code, self.clock(), self.window, user.two_factor_last_timestep)
        except ValueError:  # not a base32 secret: nothing can match it
            log.warning("user %s has an unusable two_factor_secret", user.id)
            return False
        if step is None:
            return False
        newer = Q(two_factor_last_timestep__isnull=True) | Q(two_factor_last_timestep__lt=step)
        won = await User.filter(newer, id=user.id, two_factor_secret=stored).update(two_factor_last_timestep=step)
        if won == 1:
            user.two_factor_last_timestep = step
        return won == 1

    async def _spend_recovery_code(self, user: User, presented: str) -> bool:
        """Fortify's replaceRecoveryCode as a compare-and-swap of the encrypted column."""
        current: User | None = user
        for _ in range(RECOVERY_SWAP_RETRIES):
            if current is None or not self.required_for(current):
                return False
            stored = current.two_factor_recovery_codes
            codes_json = self._decrypt(current, stored)
            if stored is None or codes_json is None:
                return False
            try:
                match = two_factor.find_recovery_code(two_factor.decode_recovery_codes(codes_json), presented)
            except ValueError:
                log.warning("user %s has unreadable two_factor_recovery_codes", current.id)
                return False
            if match is None:
                return False
            replaced = self.encrypter.encrypt(two_factor.replace_recovery_code(codes_json, match))
            now = utc_now()
            won = await User.filter(id=current.id, two_factor_recovery_codes=stored).update(
                two_factor_recovery_codes=replaced, updated_at=now
            )
            if won == 1:
                user.two_factor_recovery_codes, user.updated_at = replaced, now
                await self._changed(user.id)
                return True
            current = await User.get_or_none(id=user.id)
        return False

    def _decrypt(self, user: User, payload: str | None) -> str | None:
        """A 2FA column's plaintext, or None (logged) when it does not decrypt with APP_KEY."""
        if not payload:
            return None
        try:
            return self.encrypter.decrypt(payload)
        except DecryptException:
            log.error("user %s: a two-factor column does not decrypt with APP_KEY", user.id)
            return None

    async def _changed(self, user_id: int) -> None:
        """Cached verified tokens hold the user row (and /api/me its updated_at): drop them everywhere."""
        if self.tokens is not None:
            await self.tokens.user_changed(user_id)
