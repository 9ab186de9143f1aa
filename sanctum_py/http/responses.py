"""Laravel-shaped responses and the exceptions that become them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sanctum_py.http import phpjson

JSON = "application/json"
# On every response (http/entry.py, protocol_errors.py): no MIME sniffing, and a Server header that
# names no versions (aiohttp's own says `Python/3.11 aiohttp/3.x`, a scanner's shopping list).
EVERY_RESPONSE_HEADERS: Mapping[str, str] = {"Server": "sanctum_py", "X-Content-Type-Options": "nosniff"}
# On every response of a signed-in route: each may carry personal data, and none may be stored.
SIGNED_IN_HEADERS: Mapping[str, str] = {**EVERY_RESPONSE_HEADERS, "Cache-Control": "no-store"}


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Compact, as Laravel's JsonResponse (2xx, 401, 422)."""
    return web.Response(body=phpjson.encode(data), status=status, content_type=JSON, headers=headers)


def error_response(message: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """Pretty-printed, as Laravel's exception handler renders (404, 405, 413, 429, 500, 503)."""
    body = phpjson.encode_pretty({"message": message})
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


class Unauthenticated(Exception):
    """401 {"message":"Unauthenticated."}"""


class TooManyAttempts(Exception):
    """429 with Laravel's ThrottleRequestsException headers."""

    def __init__(self, max_attempts: int, retry_after: int) -> None:
        super().__init__("Too Many Attempts.")
        self.headers = {
            "X-RateLimit-Limit": str(max_attempts),
            "X-RateLimit-Remaining": "0",
            "Retry-After": str(retry_after),
            "X-RateLimit-Reset": str(int(time.time()) + retry_after),
        }


class HttpError(Exception):
    """An abort(status, message): rendered pretty-printed, as Laravel's handler renders HttpExceptions."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(HttpError):
    status = 403


class NotFound(HttpError):
    status = 404


class Conflict(HttpError):
    status = 409


class ServiceUnavailable(Exception):
    """A dependency (the database) is down: 503 with Retry-After, never a traceback."""
