"""Every failure on the gateway wire: `{"error": "<code>"}` (RFC 6749 §5.2's shape and codes where they
fit) with its status. Nothing in a refusal says why a token or a client was refused.

A reverse proxy reads only the status of a forward-auth answer (nginx turns anything but 2xx, 401 and 403
into a 500 of its own); Traefik passes the whole answer on to the client, so the body stays tiny.
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.errors import ErrorCode
from sanctum_py.core.introspection import InvalidClient
from sanctum_py.http.gateway.wire import error
from sanctum_py.http.kernel.failures import classify
from sanctum_py.http.kernel.headers import throttle_headers
from sanctum_py.http.kernel.keys import SERVICES

VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # the order Allow lists them in
# RFC 6749 §2.3.1 / RFC 7235: a 401 to a client that authenticates with Basic names that scheme.
BASIC_CHALLENGE = 'Basic realm="introspection", charset="UTF-8"'

_ANSWERS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.MALFORMED_BODY: (400, "invalid_request"),
    ErrorCode.INVALID_INPUT: (400, "invalid_request"),
    # RFC 6750 §3.1: invalid_token; the challenge header is added below.
    ErrorCode.UNAUTHENTICATED: (401, "invalid_token"),
    ErrorCode.TOKEN_EXPIRED: (401, "invalid_token"),
    ErrorCode.EMAIL_NOT_VERIFIED: (403, "email_not_verified"),  # only with REQUIRE_VERIFIED_EMAIL
    ErrorCode.ROUTE_NOT_FOUND: (404, "not_found"),
    ErrorCode.NOT_FOUND: (404, "not_found"),
    ErrorCode.REQUEST_TIMEOUT: (408, "request_timeout"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "request_too_large"),
}


def render_exception(request: web.Request, exception: BaseException) -> web.StreamResponse:
    if isinstance(exception, InvalidClient):
        return error("invalid_client", 401, {"WWW-Authenticate": BASIC_CHALLENGE})
    failure = classify(request, exception, request.app[SERVICES].events)
    code = failure.code
    if code is ErrorCode.TOO_MANY_ATTEMPTS:
        return error("too_many_requests", 429, throttle_headers(failure))
    if code is ErrorCode.SERVICE_UNAVAILABLE:  # RFC 6749's name for it
        return error("temporarily_unavailable", 503, {"Retry-After": "5"})
    if code is ErrorCode.METHOD_NOT_ALLOWED:
        allowed = ", ".join(verb for verb in VERBS if verb in failure.fields)
        return error("method_not_allowed", 405, {"Allow": allowed})
    status, name = _ANSWERS.get(code, (500, "server_error"))
    if status == 401:
        return error(name, 401, {"WWW-Authenticate": bearer_challenge(request)})
    return error(name, status)


def bearer_challenge(request: web.Request) -> str:
    """RFC 6750 §3: a request that carried no token gets the bare challenge (no error code); one that
    carried a token that failed gets `invalid_token`, whatever the reason."""
    if "Authorization" not in request.headers:
        return "Bearer"
    return 'Bearer error="invalid_token"'
