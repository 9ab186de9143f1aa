"""Every failure on the v1 wire: `{"error": "<Turkish message>"}` with the status DESIGN §7.1 gives it."""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.http.kernel.failures import classify
from sanctum_py.http.kernel.headers import throttle_headers
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.v1.validation import InvalidInput
from sanctum_py.http.v1.wire import error, v1_response

FORBIDDEN = "Bu işlem için yetkiniz yok."
INVALID_SESSION = "Oturum geçersiz, lütfen tekrar giriş yapın."

_ANSWERS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.INVALID_CREDENTIALS: (401, "Kullanıcı adı veya şifre hatalı."),
    ErrorCode.USER_NOT_FOUND: (401, "Kullanıcı adı veya şifre hatalı."),  # only GraphQL reveals it
    ErrorCode.USER_NOT_FOUND: (401, "Kullanıcı adı veya şifre hatalı."),  # never raised on this wire
    ErrorCode.ACCOUNT_INACTIVE: (403, "Hesabınız devre dışı bırakılmış."),
    ErrorCode.INVALID_TWO_FACTOR_CODE: (401, "Doğrulama kodu geçersiz."),
    ErrorCode.TWO_FACTOR_REQUIRED: (401, "Doğrulama kodu geçersiz."),
    ErrorCode.UNAUTHENTICATED: (401, INVALID_SESSION),
    ErrorCode.INVALID_TOKEN_PAIR: (401, INVALID_SESSION),
    # Seed 000: an expired token sends the user to sign in again.
    ErrorCode.TOKEN_EXPIRED: (401, "Oturum süresi doldu, lütfen tekrar giriş yapın."),
    ErrorCode.INVALID_REFRESH_TOKEN: (401, "Yenileme tokenı geçersiz veya süresi dolmuş."),
    ErrorCode.MISSING_ABILITY: (403, FORBIDDEN),
    ErrorCode.ROLE_REQUIRED: (403, FORBIDDEN),
    ErrorCode.ROLE_NOT_ALLOWED: (403, FORBIDDEN),
    ErrorCode.PASSWORD_CONFIRMATION_REQUIRED: (403, FORBIDDEN),
    ErrorCode.LAST_ACTIVE_ADMIN: (403, FORBIDDEN),
    ErrorCode.EMAIL_NOT_VERIFIED: (403, "E-posta adresinizi doğrulamanız gerekiyor."),
    ErrorCode.IDENTIFIER_TAKEN: (409, "Kullanıcı zaten kayıtlı."),
    ErrorCode.INVALID_RESET_TOKEN: (400, "Şifre sıfırlama tokenı geçersiz veya süresi dolmuş."),
    ErrorCode.UNKNOWN_EMAIL: (400, "Şifre sıfırlama tokenı geçersiz veya süresi dolmuş."),
    ErrorCode.INVALID_VERIFICATION: (400, "Doğrulama tokenı geçersiz veya süresi dolmuş."),
    ErrorCode.MALFORMED_BODY: (400, "İstek gövdesi geçerli bir JSON nesnesi değil."),
    ErrorCode.NOT_FOUND: (404, "Bulunamadı."),
    ErrorCode.ROUTE_NOT_FOUND: (404, "Bulunamadı."),
    ErrorCode.REQUEST_TIMEOUT: (408, "İstek zaman aşımına uğradı."),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "İstek gövdesi çok büyük."),
    ErrorCode.INTERNAL: (500, "Sunucu hatası."),
}


def render_exception(request: web.Request, exception: BaseException) -> web.StreamResponse:
    if isinstance(exception, InvalidInput):
        first = next(iter(exception.fields.values()))
        return v1_response({"error": first, "fields": exception.fields}, status=422)
    return render_failure(classify(request, exception, request.app[SERVICES].events))


def render_failure(failure: AuthError) -> web.Response:
    code = failure.code
    if code is ErrorCode.TOO_MANY_ATTEMPTS:
        headers = throttle_headers(failure)
        return error(f"Çok fazla deneme. Lütfen {headers['Retry-After']} saniye sonra tekrar deneyin.", 429, headers)
    if code is ErrorCode.SERVICE_UNAVAILABLE:
        return error("Hizmet geçici olarak kullanılamıyor.", 503, {"Retry-After": "5"})
    if code is ErrorCode.METHOD_NOT_ALLOWED:
        return error("Bu istek yöntemi desteklenmiyor.", 405, {"Allow": ", ".join(failure.fields)})
    status, message = _ANSWERS.get(code, (500, "Sunucu hatası."))
    return error(message, status)
