"""Laravel-shaped responses and the exceptions that become them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sanctum_py.http.laravel import phpjson

JSON = "application/json"


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Compact, as Laravel's JsonResponse (2xx, 401, 422)."""
    return web.Response(body=phpjson.encode(data), status=status, content_type=JSON, headers=headers)


def error_response(message: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """Pretty-printed, as Laravel's exception handler renders (404, 405, 413, 429, 500, 503)."""
    body = phpjson.encode_pretty({"message": message})
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


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
