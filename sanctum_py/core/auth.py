"""The application service: every account and token operation a wire offers, with its policy, in one place.

Dialects (http/laravel, http/v1, ...) read their request, call one method here and render what it returns
or the AuthError it raises. Rules that every wire must keep live here and nowhere else: logout also ends
the refresh session; a deactivation ends every session; unknown emails look like known ones; an
expired token is told apart from a bad one only after it was refused. No HTTP, no wire text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.accounts import Accounts, Registration
from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.login import Challenge, LoginAttempt, LoginFlow, Session, SessionKind
from sanctum_py.core.passwords import PasswordResets, ResetStatus
from sanctum_py.core.refresh import RefreshTokens
from sanctum_py.core.sessions import TokenSessions
from sanctum_py.core.token_cache import VerifiedToken
from sanctum_py.core.tokens import parse_token
from sanctum_py.core.two_factor_auth import TwoFactorAuth
from sanctum_py.core.verification import EmailVerification
from sanctum_py.db.models import TwoFactorChallenge, User


@dataclass(frozen=True, slots=True)
class Registered:
    user: User
    session: Session | None  # None when the wire signs nobody in at registration


@dataclass(frozen=True)
class AuthService:
    accounts: Accounts
    tokens: AccessTokens
    sessions: TokenSessions
    login_flow: LoginFlow
    two_factor: TwoFactorAuth
    refresh_tokens: RefreshTokens
    passwords: PasswordResets
    verification: EmailVerification
    token_name: str
    reveal_unknown_emails: bool = False

    # --- who is calling ----------------------------------------------------------------------------

    async def authenticate(self, presented: str | None) -> VerifiedToken:
        """The guard, without a request: the verified token behind a bearer value, else UNAUTHENTICATED
        or, for a genuine token whose time is up, TOKEN_EXPIRED."""
        verified = await self.tokens.authenticate(presented)
        if verified is None:
            raise AuthError(await self.tokens.refusal(presented))
        return verified

    # --- accounts ----------------------------------------------------------------------------------

    async def register(
        self,
        registration: Registration,
        *,
        role: str = "user",
        session: SessionKind | None,
        check_taken: bool = False,
        granted_by: str | None = None,
    ) -> Registered:
        """A new account, signed in with `session` (None: not signed in). A role other than "user" is
        given only when `granted_by`, the bearer value presented with the request, is an admin's token
        carrying the `admin` ability (or `*`); anyone else is ROLE_NOT_ALLOWED, a bad token included.
        With `check_taken` (wires whose validation does not look), IDENTIFIER_TAKEN when the username or
        email is already someone's login, compared as logins are; the unique indexes decide a race."""
        if role != "user":
            await self._require_admin(granted_by)
        if check_taken:
            taken = [
                column
                for column in ("username", "email")
                if await self.accounts.is_taken(column, getattr(registration, column))
            ]
            if taken:
                raise AuthError(ErrorCode.IDENTIFIER_TAKEN, fields=tuple(taken))
        user = await self.accounts.register(registration, role=role)
        if session is None:
            return Registered(user, None)
        started = await self.sessions.start(user, kind=session, name=self.token_name, abilities=None, remember=False)
        return Registered(user, started)

    async def _require_admin(self, presented: str | None) -> None:
        verified = await self.tokens.authenticate(presented)
        if verified is None or verified.user.role != "admin":
            raise AuthError(ErrorCode.ROLE_NOT_ALLOWED)
        if "*" not in verified.abilities and "admin" not in verified.abilities:
            raise AuthError(ErrorCode.ROLE_NOT_ALLOWED)

    async def update_account(self, user_id: int, *, role: str | None, is_active: bool | None) -> User:
        """An admin's change of role or active flag, effective before it is answered: cached tokens of the
        user are dropped, and a deactivation ends every session, so a reactivation brings none back."""
        user = await self.accounts.update_account(user_id, role=role, is_active=is_active)
        if user is None:
            raise AuthError(ErrorCode.NOT_FOUND)
        if is_active is False:
            await self._end_sessions(user.id)
        await self.tokens.user_changed(user.id)
        return user

    async def _end_sessions(self, user_id: int) -> None:
        """Refresh families first (they revoke the access tokens they issued), then every access token
        (which drops the cached ones), then any login halfway through its second factor."""
        await self.refresh_tokens.revoke_all_for(user_id)
        await self.tokens.revoke_all_for(user_id)
        await TwoFactorChallenge.filter(user_id=user_id).delete()

    # --- signing in and out ------------------------------------------------------------------------

    async def login(self, attempt: LoginAttempt) -> Session | Challenge:
        return await self.login_flow.login(attempt)

    async def complete_challenge(
        self,
        challenge_token: str,
        *,
        code: str | None,
        recovery_code: str | None,
        ip: str,
        session: SessionKind,
    ) -> Session:
        return await self.two_factor.complete_challenge(challenge_token, code, recovery_code, ip, session)

    async def refresh(self, refresh_token: str) -> Session:
        """A new access + refresh pair for a refresh token (rotation, reuse detection, grace window)."""
        return await self.refresh_tokens.rotate(refresh_token)

    async def logout(self, verified: VerifiedToken) -> None:
        """This token, and the refresh session it belongs to, end."""
        await self.tokens.revoke(verified.token_id)
        await self.refresh_tokens.revoke_for_access_token(verified.user.id, verified.token_id)

    async def logout_all(self, verified: VerifiedToken, *, except_current: bool) -> None:
        """Every session of the user (or every other one) ends, refresh tokens included."""
        keep = verified.token_id if except_current else None
        await self.refresh_tokens.revoke_all_for(verified.user.id, except_access_token_id=keep)
        if keep is not None:
            await self.tokens.revoke_all_except(verified.user.id, keep)
        else:
            await self.tokens.revoke_all_for(verified.user.id)

    async def revoke_token(self, user_id: int, token_id: int) -> None:
        """One of the user's own tokens (a device), with its refresh session; NOT_FOUND for anyone else's."""
        if not await self.tokens.revoke_owned(user_id, token_id):
            raise AuthError(ErrorCode.NOT_FOUND)
        await self.refresh_tokens.revoke_for_access_token(user_id, token_id)

    async def revoke_session(self, access_token: str, refresh_token: str) -> None:
        """Logout by presenting both tokens of one session: both end. INVALID_TOKEN_PAIR when either is not
        good or they do not belong together (nothing is revoked then)."""
        verified = await self.tokens.authenticate(access_token)
        refresh = await self.refresh_tokens.find(refresh_token) if parse_token(refresh_token) else None
        if (
            verified is None
            or refresh is None
            or refresh.revoked_at is not None
            or refresh.user_id != verified.user.id
            or refresh.access_token_id != verified.token_id
        ):
            raise AuthError(ErrorCode.INVALID_TOKEN_PAIR)
        await self.logout(verified)

    # --- password reset ----------------------------------------------------------------------------

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link. Without REVEAL_UNKNOWN_EMAILS an unknown or throttled email answers exactly as
        a sent link does; with it, UNKNOWN_EMAIL and RESET_THROTTLED are raised as Laravel's broker says."""
        status = await self.passwords.send_reset_link(email)
        if self.reveal_unknown_emails and status is ResetStatus.INVALID_USER:
            raise AuthError(ErrorCode.UNKNOWN_EMAIL, fields=("email",))
        if self.reveal_unknown_emails and status is ResetStatus.THROTTLED:
            raise AuthError(ErrorCode.RESET_THROTTLED, fields=("email",))

    async def reset_password(self, email: str, token: str | None, password: str) -> None:
        """Set a new password with a mailed token (single use, expiring); every session ends. An unknown
        email is INVALID_RESET_TOKEN too, unless REVEAL_UNKNOWN_EMAILS says UNKNOWN_EMAIL."""
        status = await self.passwords.reset(email, token, password)
        if status is ResetStatus.RESET:
            return
        if status is ResetStatus.INVALID_USER and self.reveal_unknown_emails:
            raise AuthError(ErrorCode.UNKNOWN_EMAIL, fields=("email",))
        raise AuthError(ErrorCode.INVALID_RESET_TOKEN, fields=("email",))

    # --- email verification ------------------------------------------------------------------------

    async def verify_email_token(self, token: str) -> User:
        """Verify the email a posted verification token names (idempotent); INVALID_VERIFICATION otherwise."""
        user = await self.verification.user_of_token(token)
        if user is None:
            raise AuthError(ErrorCode.INVALID_VERIFICATION, fields=("token",))
        await self.verification.mark_verified(user)
        return user

    # --- clients that keep one refresh token (the envelope dialect, seed 003) -----------------------

    async def renew_access(self, refresh_token: str) -> Session:
        """A new access token for the session of `refresh_token`, which stays valid until it expires or
        the session ends (no rotation: the client never receives a new one). Throttled per session as a
        rotation is; INVALID_REFRESH_TOKEN for unknown, expired, revoked or spent tokens."""
        return await self.refresh_tokens.renew(refresh_token)

    async def request_self_identifying_reset(self, email: str) -> None:
        """As request_password_reset, but the mailed token names its user (`<user id>.<token>`) so the
        reset needs no email; never tells an unknown or throttled email apart, whatever the settings."""
        await self.passwords.send_reset_link(email, self_identifying=True, never_reveal=True)

    async def reset_password_by_token(self, token: str, password: str) -> None:
        """Set a new password with a self-identifying token (single use, expiring); every session ends.
        INVALID_RESET_TOKEN for anything else, an unknown user included."""
        status = await self.passwords.reset_by_token(token, password)
        if status is not ResetStatus.RESET:
            raise AuthError(ErrorCode.INVALID_RESET_TOKEN, fields=("token",))
