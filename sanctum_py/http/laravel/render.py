"""Every failure as Laravel answers it; nothing else ever reaches a client of the Laravel wire.

The Laravel-only exceptions (ValidationFailed, the abort()-style HttpErrors, aiohttp's 405) are answered
first; everything else is classified by the kernel (http/kernel/failures.py) into a core ErrorCode and
answered in Laravel's words below: compact JsonResponses for 401/422/423, pretty-printed bodies for what
Laravel's exception handler renders (403, 404, 405, 409, 413, 429, 500, 503).
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.http.kernel.failures import classify
from sanctum_py.http.kernel.headers import throttle_headers
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.laravel.responses import HttpError, error_response, json_response
from sanctum_py.http.laravel.validation import MESSAGE as VALIDATION_MESSAGE
from sanctum_py.http.laravel.validation import ValidationFailed

LARAVEL_VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
HTML = "text/html; charset=UTF-8"  # Symfony's Content-Type for a Response that names none

# Failures that Laravel reports as a validation error on one field: the field, the message.
# laravel/laravel@8.x resources/lang/en/passwords.php; Fortify's 2FA messages; ours where Laravel has none.
INVALID_CODE = "The provided two factor authentication code was invalid."
INVALID_RECOVERY_CODE = "The provided two factor recovery code was invalid."
LAST_ADMIN_MESSAGES = {
    "role": "The role cannot be changed while this user is the last active admin.",
    "is_active": "The is active field cannot be false while this user is the last active admin.",
}
_FIELD_ERRORS: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.INVALID_CREDENTIALS: ("login", "Invalid credentials."),
    ErrorCode.USER_NOT_FOUND: ("login", "Invalid credentials."),  # only GraphQL reveals it
    ErrorCode.USER_NOT_FOUND: ("login", "Invalid credentials."),  # never raised on this wire
    ErrorCode.ACCOUNT_INACTIVE: ("login", "This account has been deactivated."),
    ErrorCode.INVALID_RESET_TOKEN: ("email", "This password reset token is invalid."),
    ErrorCode.UNKNOWN_EMAIL: ("email", "We can't find a user with that email address."),
    ErrorCode.RESET_THROTTLED: ("email", "Please wait before retrying."),
    ErrorCode.INVALID_PASSWORD: ("password", "The provided password was incorrect."),
}
# Failures Laravel's exception handler renders: status and message, pretty-printed.
_ABORTS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.MISSING_ABILITY: (403, "Invalid ability provided."),
    ErrorCode.ROLE_REQUIRED: (403, "This action is unauthorized."),
    ErrorCode.ROLE_NOT_ALLOWED: (403, "This action is unauthorized."),
    ErrorCode.INVALID_VERIFICATION: (403, "Invalid signature."),
    ErrorCode.NOT_FOUND: (404, ""),
    ErrorCode.ROUTE_NOT_FOUND: (404, ""),
    ErrorCode.EMAIL_NOT_VERIFIED: (409, "Your email address is not verified."),
    ErrorCode.MALFORMED_BODY: (400, "Bad Request"),
    ErrorCode.REQUEST_TIMEOUT: (408, "Request Timeout."),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, ""),
    ErrorCode.INTERNAL: (500, "Server Error"),
}
_UNAUTHENTICATED = (
    ErrorCode.UNAUTHENTICATED,
    ErrorCode.TOKEN_EXPIRED,
    ErrorCode.INVALID_REFRESH_TOKEN,
    ErrorCode.INVALID_TOKEN_PAIR,
)


def render_exception(request: web.Request, error: BaseException) -> web.StreamResponse:
    if isinstance(error, ValidationFailed):
        return json_response({"message": error.message, "errors": error.errors}, status=422)
    if isinstance(error, HttpError):
        return error_response(error.message, error.status)
    if isinstance(error, web.HTTPMethodNotAllowed):
        return _method_not_allowed(request, error)
    if isinstance(error, web.HTTPException) and error.status not in (400, 404, 408, 413):
        return error_response(error.reason if error.status >= 400 else "", error.status)
    return render_failure(classify(request, error, request.app[SERVICES].events))


def render_failure(failure: AuthError) -> web.StreamResponse:
    code = failure.code
    if code in _UNAUTHENTICATED:
        return json_response({"message": "Unauthenticated."}, status=401)
    if code is ErrorCode.TOO_MANY_ATTEMPTS:
        return error_response("Too Many Attempts.", 429, headers=throttle_headers(failure))
    if code is ErrorCode.SERVICE_UNAVAILABLE:
        return error_response("Service Unavailable.", 503, headers={"Retry-After": "5"})
    if code is ErrorCode.PASSWORD_CONFIRMATION_REQUIRED:  # RequirePassword: response()->json([...], 423)
        return json_response({"message": "Password confirmation required."}, status=423)
    if code in _ABORTS:
        status, message = _ABORTS[code]
        return error_response(message, status)
    return json_response({"message": VALIDATION_MESSAGE, "errors": field_errors(failure)}, status=422)


def field_errors(failure: AuthError) -> dict[str, list[str]]:
    """A failure Laravel reports as a validation error, as `errors`."""
    code = failure.code
    if code is ErrorCode.INVALID_TWO_FACTOR_CODE:
        field = failure.field or "code"
        return {field: [INVALID_RECOVERY_CODE if field == "recovery_code" else INVALID_CODE]}
    if code is ErrorCode.IDENTIFIER_TAKEN:
        return {field: [f"The {field} has already been taken."] for field in failure.fields}
    if code is ErrorCode.LAST_ACTIVE_ADMIN:
        return {field: [LAST_ADMIN_MESSAGES[field]] for field in failure.fields}
    field, message = _FIELD_ERRORS.get(code, (failure.field or "login", VALIDATION_MESSAGE))
    return {field: [message]}


def _method_not_allowed(request: web.Request, error: web.HTTPMethodNotAllowed) -> web.StreamResponse:
    allowed = [verb for verb in LARAVEL_VERBS if verb in error.allowed_methods]
    if request.method == "OPTIONS":  # RouteCollection::getRouteForMethods answers OPTIONS itself
        return web.Response(status=200, headers={"Allow": ",".join(allowed), "Content-Type": HTML})
    message = f"The {request.method} method is not supported for this route. Supported methods: {', '.join(allowed)}."
    return error_response(message, 405, headers={"Allow": ", ".join(allowed)})
