"""How the GraphQL dialect answers: `{"data": ..., "errors": [{"message", "extensions": {"code"}}]}`.

Failures of a field (bad credentials, throttles, bad tokens) and of the document (syntax, unknown fields,
variable types, limits) are GraphQL errors in an HTTP 200, as GraphQL servers answer them. Failures of
the transport (no such path, wrong method, body too large, the API rate limit, an outage, a bug) keep
their HTTP status, with the same body shape, so proxies and monitoring see them for what they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.http.kernel.failures import classify
from sanctum_py.http.kernel.headers import NO_STORE, throttle_headers
from sanctum_py.http.kernel.keys import SERVICES

JSON = "application/json"

# Seed 002's codes and its table's words; the rest (*decided*) in the same style.
_FIELD_ERRORS: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.INVALID_CREDENTIALS: ("INVALID_CREDENTIALS", "Geçersiz kullanıcı adı veya şifre."),
    ErrorCode.USER_NOT_FOUND: ("USER_NOT_FOUND", "Kullanıcı bulunamadı."),
    ErrorCode.ACCOUNT_INACTIVE: ("ACCOUNT_INACTIVE", "Hesabınız devre dışı bırakılmış."),
    ErrorCode.TWO_FACTOR_REQUIRED: ("TWO_FACTOR_REQUIRED", "Bu hesap iki aşamalı doğrulama gerektiriyor."),
    ErrorCode.INVALID_REFRESH_TOKEN: ("INVALID_TOKENS", "Geçersiz token'lar."),
    ErrorCode.INVALID_TOKEN_PAIR: ("INVALID_TOKENS", "Geçersiz token'lar."),
    ErrorCode.UNAUTHENTICATED: ("UNAUTHENTICATED", "Oturum geçersiz, lütfen tekrar giriş yapın."),
    ErrorCode.TOKEN_EXPIRED: ("UNAUTHENTICATED", "Oturum geçersiz, lütfen tekrar giriş yapın."),
    ErrorCode.EMAIL_NOT_VERIFIED: ("FORBIDDEN", "E-posta adresinizi doğrulamanız gerekiyor."),
    ErrorCode.INVALID_INPUT: ("BAD_USER_INPUT", "Geçersiz istek."),
    ErrorCode.MALFORMED_BODY: ("BAD_USER_INPUT", "İstek gövdesi geçerli bir GraphQL isteği değil."),
}
LOGIN_THROTTLED = "Çok fazla başarısız giriş denemesi."
LOGOUT_THROTTLED = "Çok sık çıkış denemesi."
REFRESH_THROTTLED = "Çok sık yenileme denemesi."

# Transport failures: status, code, message.
_TRANSPORT: dict[ErrorCode, tuple[int, str, str]] = {
    ErrorCode.ROUTE_NOT_FOUND: (404, "NOT_FOUND", "Bulunamadı."),
    ErrorCode.NOT_FOUND: (404, "NOT_FOUND", "Bulunamadı."),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "METHOD_NOT_ALLOWED", "Bu istek yöntemi desteklenmiyor."),
    ErrorCode.REQUEST_TIMEOUT: (408, "REQUEST_TIMEOUT", "İstek zaman aşımına uğradı."),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "PAYLOAD_TOO_LARGE", "İstek gövdesi çok büyük."),
    ErrorCode.TOO_MANY_ATTEMPTS: (429, "TOO_MANY_ATTEMPTS", "Çok fazla istek."),
    ErrorCode.SERVICE_UNAVAILABLE: (503, "SERVICE_UNAVAILABLE", "Hizmet geçici olarak kullanılamıyor."),
    ErrorCode.INTERNAL: (500, "INTERNAL_SERVER_ERROR", "Sunucu hatası."),
}


def graphql_response(
    body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(
        body=data, status=status, content_type=JSON, charset="utf-8", headers={**NO_STORE, **(headers or {})}
    )


def field_error(failure: AuthError, throttled_message: str = LOGIN_THROTTLED) -> tuple[str, dict[str, Any]]:
    """The message and extensions of a field's AuthError."""
    if failure.code is ErrorCode.TOO_MANY_ATTEMPTS:
        return throttled_message, {"code": "TOO_MANY_ATTEMPTS", "retryAfter": failure.retry_after or 0}
    code, message = _FIELD_ERRORS.get(failure.code, ("BAD_USER_INPUT", "Geçersiz istek."))
    extensions: dict[str, Any] = {"code": code}
    if failure.code is ErrorCode.INVALID_INPUT and failure.fields:
        extensions["fields"] = list(failure.fields)
    return message, extensions


def is_transport_failure(failure: AuthError) -> bool:
    return failure.code in (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.INTERNAL)


def render_exception(request: web.Request, exception: BaseException) -> web.StreamResponse:
    """Failures outside the resolvers (the kernel's, or a resolver's outage or bug re-raised)."""
    failure = classify(request, exception, request.app[SERVICES].events)
    transport = _TRANSPORT.get(failure.code)
    if transport is None:  # a malformed body and the like: a GraphQL error, HTTP 200
        message, extensions = field_error(failure)
        return graphql_response({"errors": [{"message": message, "extensions": extensions}]})
    status, code, message = transport
    headers: dict[str, str] = {}
    if failure.code is ErrorCode.TOO_MANY_ATTEMPTS:
        headers = throttle_headers(failure)
    elif failure.code is ErrorCode.SERVICE_UNAVAILABLE:
        headers = {"Retry-After": "5"}
    elif failure.code is ErrorCode.METHOD_NOT_ALLOWED:
        headers = {"Allow": ", ".join(failure.fields)}
    return graphql_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers)
