"""Every failure on the envelope wire: the failure envelope with DESIGN §7.2's `type`, in Turkish.

Every ErrorCode has its row in _ANSWERS (tests/envelope/test_failures.py checks that none is missing),
so no core failure falls through to a generic 500; only INTERNAL is a 500 (SERVER_ERROR).
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.http.envelope.validation import FieldError, InvalidInput
from sanctum_py.http.envelope.wire import failure
from sanctum_py.http.kernel.failures import classify
from sanctum_py.http.kernel.headers import throttle_headers
from sanctum_py.http.kernel.keys import SERVICES

VALIDATION = "VALIDATION_ERROR"
AUTHENTICATION = "AUTHENTICATION_ERROR"
AUTHORIZATION = "AUTHORIZATION_ERROR"
NOT_FOUND = "NOT_FOUND_ERROR"
CONFLICT = "CONFLICT_ERROR"
RATE_LIMIT = "RATE_LIMIT_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"
SERVER = "SERVER_ERROR"

BAD_CREDENTIALS = "Kullanıcı adı veya şifre hatalı"
INVALID_SESSION = "Oturum geçersiz, lütfen tekrar giriş yapın"
FORBIDDEN = "Bu işlem için yetkiniz yok"
INVALID_RESET = "Şifre sıfırlama bağlantısı geçersiz veya süresi dolmuş"
VALIDATION_FAILED = "Doğrulama hatası"

_ANSWERS: dict[ErrorCode, tuple[int, str, str]] = {
    ErrorCode.INVALID_CREDENTIALS: (401, AUTHENTICATION, BAD_CREDENTIALS),
    # Only GraphQL ever asks to reveal unknown users; were it raised here, it would look like the above.
    ErrorCode.USER_NOT_FOUND: (401, AUTHENTICATION, BAD_CREDENTIALS),
    ErrorCode.ACCOUNT_INACTIVE: (403, AUTHORIZATION, "Hesabınız devre dışı bırakılmış"),
    # Seed 003 has no second-factor step: a 2FA account cannot sign in on this wire (README).
    ErrorCode.TWO_FACTOR_REQUIRED: (401, AUTHENTICATION, "Bu hesap için iki adımlı doğrulama gerekiyor"),
    ErrorCode.INVALID_TWO_FACTOR_CODE: (401, AUTHENTICATION, "Doğrulama kodu geçersiz"),
    ErrorCode.UNAUTHENTICATED: (401, AUTHENTICATION, INVALID_SESSION),
    ErrorCode.TOKEN_EXPIRED: (401, AUTHENTICATION, "Oturum süresi doldu, lütfen tekrar giriş yapın"),
    ErrorCode.INVALID_REFRESH_TOKEN: (401, AUTHENTICATION, "Yenileme tokenı geçersiz veya süresi dolmuş"),
    ErrorCode.INVALID_TOKEN_PAIR: (401, AUTHENTICATION, INVALID_SESSION),
    ErrorCode.MISSING_ABILITY: (403, AUTHORIZATION, FORBIDDEN),
    ErrorCode.ROLE_REQUIRED: (403, AUTHORIZATION, FORBIDDEN),
    ErrorCode.ROLE_NOT_ALLOWED: (403, AUTHORIZATION, FORBIDDEN),
    ErrorCode.PASSWORD_CONFIRMATION_REQUIRED: (403, AUTHORIZATION, FORBIDDEN),
    ErrorCode.LAST_ACTIVE_ADMIN: (403, AUTHORIZATION, FORBIDDEN),
    ErrorCode.EMAIL_NOT_VERIFIED: (403, AUTHORIZATION, "E-posta adresinizi doğrulamanız gerekiyor"),
    ErrorCode.INVALID_PASSWORD: (422, VALIDATION, "Şifre hatalı"),
    ErrorCode.IDENTIFIER_TAKEN: (409, CONFLICT, "Kullanıcı zaten kayıtlı"),
    ErrorCode.NOT_FOUND: (404, NOT_FOUND, "Bulunamadı"),
    ErrorCode.ROUTE_NOT_FOUND: (404, NOT_FOUND, "Bulunamadı"),
    ErrorCode.INVALID_RESET_TOKEN: (400, VALIDATION, INVALID_RESET),
    # Never raised on this wire (its reset request never reveals), mapped so that no code is a 500.
    ErrorCode.UNKNOWN_EMAIL: (400, VALIDATION, INVALID_RESET),
    ErrorCode.RESET_THROTTLED: (400, VALIDATION, INVALID_RESET),
    ErrorCode.INVALID_VERIFICATION: (400, VALIDATION, "Doğrulama bağlantısı geçersiz veya süresi dolmuş"),
    ErrorCode.INVALID_INPUT: (422, VALIDATION, VALIDATION_FAILED),
    ErrorCode.MALFORMED_BODY: (400, VALIDATION, "İstek gövdesi geçerli bir JSON nesnesi değil"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, NOT_FOUND, "Bu istek yöntemi desteklenmiyor"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, VALIDATION, "İstek gövdesi çok büyük"),
    ErrorCode.REQUEST_TIMEOUT: (408, VALIDATION, "İstek zaman aşımına uğradı"),
    ErrorCode.TOO_MANY_ATTEMPTS: (429, RATE_LIMIT, "Çok fazla deneme"),
    ErrorCode.SERVICE_UNAVAILABLE: (503, UNAVAILABLE, "Hizmet geçici olarak kullanılamıyor"),
    ErrorCode.INTERNAL: (500, SERVER, "Sunucu hatası"),
}

# Field-level codes for core failures that name fields.
_FIELD_CODES: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.IDENTIFIER_TAKEN: ("ALREADY_EXISTS", "{field} zaten kullanılıyor"),
    ErrorCode.INVALID_RESET_TOKEN: ("INVALID_TOKEN", "{field} geçersiz veya süresi dolmuş"),
    ErrorCode.INVALID_PASSWORD: ("INVALID_VALUE", "{field} hatalı"),
}
# The core's column names, as this wire's fields.
_WIRE_FIELDS = {"name": "firstName", "surname": "lastName"}


def render_exception(request: web.Request, exception: BaseException) -> web.StreamResponse:
    if isinstance(exception, InvalidInput):
        errors = [error.as_json() for error in exception.errors]
        return failure(request, 422, VALIDATION, VALIDATION_FAILED, errors)
    return render_failure(request, classify(request, exception, request.app[SERVICES].events))


def render_failure(request: web.Request, error: AuthError) -> web.Response:
    code = error.code
    status, kind, message = _ANSWERS.get(code, _ANSWERS[ErrorCode.INTERNAL])
    headers: dict[str, str] | None = None
    if code is ErrorCode.TOO_MANY_ATTEMPTS:
        headers = throttle_headers(error)
        message = f"Çok fazla deneme. Lütfen {headers['Retry-After']} saniye sonra tekrar deneyin"
    elif code is ErrorCode.SERVICE_UNAVAILABLE:
        headers = {"Retry-After": "5"}
    elif code is ErrorCode.METHOD_NOT_ALLOWED:
        headers = {"Allow": ", ".join(error.fields)}
    return failure(request, status, kind, message, _field_errors(error), headers)


def _field_errors(error: AuthError) -> list[dict[str, str]] | None:
    if error.code not in _FIELD_CODES or not error.fields:
        return None
    code, template = _FIELD_CODES[error.code]
    fields = [_WIRE_FIELDS.get(name, name) for name in error.fields]
    return [FieldError(name, template.format(field=name), code).as_json() for name in fields]
