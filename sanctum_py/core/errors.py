"""Every failure of the core as a machine-readable code. No wire text lives here.

The core raises `AuthError(ErrorCode.X, ...)`; each dialect (http/laravel, http/v1, ...) maps the code to
its own status, body and language. A failure carries only what a dialect may need to render it: the
fields it concerns, and for throttles the limit and the seconds until a retry can succeed.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # Signing in
    INVALID_CREDENTIALS = "invalid_credentials"  # unknown login or wrong password: indistinguishable on purpose
    USER_NOT_FOUND = "user_not_found"  # only for a LoginAttempt with reveal_unknown (GRAPHQL_REVEAL_UNKNOWN_USERS)
    ACCOUNT_INACTIVE = "account_inactive"  # only ever said after the right password
    TOO_MANY_ATTEMPTS = "too_many_attempts"  # a throttle: `limit` and `retry_after` are set
    TWO_FACTOR_REQUIRED = "two_factor_required"  # a bare-token login (/sanctum/token) of a 2FA user
    INVALID_TWO_FACTOR_CODE = "invalid_two_factor_code"  # field "code" or "recovery_code"
    # Presented tokens
    UNAUTHENTICATED = "unauthenticated"  # no token, unknown, revoked, its user gone or inactive
    TOKEN_EXPIRED = "token_expired"  # a token that was good and has expired: "sign in again"
    INVALID_REFRESH_TOKEN = "invalid_refresh_token"  # unknown, expired, revoked or reused
    INVALID_TOKEN_PAIR = "invalid_token_pair"  # an access and a refresh token of different sessions
    # What a signed-in caller may do
    MISSING_ABILITY = "missing_ability"
    ROLE_REQUIRED = "role_required"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    PASSWORD_CONFIRMATION_REQUIRED = "password_confirmation_required"
    INVALID_PASSWORD = "invalid_password"  # a password confirmation that did not match
    # Accounts
    IDENTIFIER_TAKEN = "identifier_taken"  # fields: the identifier columns already someone's
    LAST_ACTIVE_ADMIN = "last_active_admin"  # fields: the requested changes that would leave no admin
    ROLE_NOT_ALLOWED = "role_not_allowed"  # a role the caller may not give (anonymous registration)
    NOT_FOUND = "not_found"  # the user or token named in the request does not exist (for this caller)
    # Password reset and email verification
    INVALID_RESET_TOKEN = "invalid_reset_token"
    UNKNOWN_EMAIL = "unknown_email"  # only with REVEAL_UNKNOWN_EMAILS
    RESET_THROTTLED = "reset_throttled"  # only with REVEAL_UNKNOWN_EMAILS; otherwise a throttled request looks sent
    INVALID_VERIFICATION = "invalid_verification"  # a bad, expired or foreign verification link or token
    # The request itself (raised by the HTTP kernel, rendered by the dialect)
    INVALID_INPUT = "invalid_input"
    MALFORMED_BODY = "malformed_body"
    ROUTE_NOT_FOUND = "route_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    REQUEST_TIMEOUT = "request_timeout"
    SERVICE_UNAVAILABLE = "service_unavailable"  # the database (or what /up probes) cannot be reached
    INTERNAL = "internal"


class AuthError(Exception):
    """A failure of the core, rendered by each dialect in its own words."""

    def __init__(
        self,
        code: ErrorCode,
        *,
        fields: tuple[str, ...] = (),
        limit: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code.value)
        self.code = code
        self.fields = fields
        self.limit = limit
        self.retry_after = retry_after

    @property
    def field(self) -> str | None:
        return self.fields[0] if self.fields else None

    def __repr__(self) -> str:
        return f"AuthError({self.code!s}, fields={self.fields!r})"


def throttled(limit: int, retry_after: int) -> AuthError:
    return AuthError(ErrorCode.TOO_MANY_ATTEMPTS, limit=limit, retry_after=retry_after)
