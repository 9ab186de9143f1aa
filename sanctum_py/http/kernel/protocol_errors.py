"""Requests too malformed to reach the application (bad request line, header garbage, oversized
headers) still get a JSON body, and never an echo of what was sent.

aiohttp answers these itself, in text/plain, quoting the offending header (which may be an
Authorization header carrying a token) in the body and in the log. Its protocol handler has no
hook for this, so `install()` replaces `RequestHandler.handle_error` once per process.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web, web_protocol
from aiohttp.web_request import BaseRequest

from sanctum_py.http.kernel.headers import EVERY_RESPONSE_HEADERS
from sanctum_py.http.laravel.phpjson import encode_pretty

log = logging.getLogger("sanctum_py.http")


def _handle_error(
    self: web_protocol.RequestHandler,
    request: BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    # The exception's text quotes the raw input: log its type only.
    log.info("rejected a malformed request from %s (%s)", request.remote, type(exc).__name__ if exc else status)
    if request.writer.output_size > 0:
        raise ConnectionError("response already started; closing the connection")
    text = "Server Error" if status >= 500 else HTTPStatus(status).phrase
    response = web.Response(
        status=status,
        body=encode_pretty({"message": text}),
        content_type="application/json",
        headers=EVERY_RESPONSE_HEADERS,
    )
    response.force_close()
    return response


def install() -> None:
    web_protocol.RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]
