"""Every failure becomes a Laravel JSON body; nothing else ever reaches the client.

Unexpected exceptions are logged with their traceback (server side only) and answered with
Laravel's production 500 `{"message": "Server Error"}`. Database outages answer 503 instead, so a
load balancer can retry elsewhere, and recover by themselves when the database does.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from tortoise.exceptions import DBConnectionError, OperationalError

from sanctum_py.db.outage import is_database_missing, is_link_failure
from sanctum_py.http.keys import SERVICES
from sanctum_py.http.responses import (
    HttpError,
    ServiceUnavailable,
    TooManyAttempts,
    Unauthenticated,
    error_response,
    json_response,
)
from sanctum_py.http.validation import ValidationFailed

log = logging.getLogger("sanctum_py.http")

LARAVEL_VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
HTML = "text/html; charset=UTF-8"  # Symfony's Content-Type for a Response that names none


def render_exception(request: web.Request, error: BaseException) -> web.StreamResponse:
    if isinstance(error, ValidationFailed):
        return json_response({"message": error.message, "errors": error.errors}, status=422)
    if isinstance(error, Unauthenticated):
        return json_response({"message": "Unauthenticated."}, status=401)
    if isinstance(error, HttpError):
        return error_response(error.message, error.status)
    if isinstance(error, TooManyAttempts):
        return error_response("Too Many Attempts.", 429, headers=error.headers)
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = [verb for verb in LARAVEL_VERBS if verb in error.allowed_methods]
        if request.method == "OPTIONS":  # RouteCollection::getRouteForMethods answers OPTIONS itself
            return web.Response(status=200, headers={"Allow": ",".join(allowed), "Content-Type": HTML})
        message = (
            f"The {request.method} method is not supported for this route. Supported methods: {', '.join(allowed)}."
        )
        return error_response(message, 405, headers={"Allow": ", ".join(allowed)})
    if isinstance(error, web.HTTPException):
        if error.status in (404, 413):
            return error_response("", error.status)
        return error_response(error.reason if error.status >= 400 else "", error.status)
    if _is_outage(error):
        log.error("database unavailable: %s", type(error).__name__)
        if not isinstance(error, ServiceUnavailable):  # not /up's own verdict (which may be about Redis)
            request.app[SERVICES].events.database_error()
        return error_response("Service Unavailable.", 503, headers={"Retry-After": "5"})
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return error_response("Server Error", 500)


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, (ServiceUnavailable, DBConnectionError, ConnectionError, asyncio.TimeoutError)):
        return True
    if is_link_failure(error):  # driver errors Tortoise leaves untranslated (e.g. a link lost on release)
        return True
    if is_database_missing(error):  # dropped while serving, or not restored/migrated yet
        return True
    if isinstance(error, OperationalError):
        cause = error.__cause__ or error.__context__
        return isinstance(cause, (ConnectionError, OSError, asyncio.TimeoutError)) or _looks_like_lost_link(error)
    return isinstance(error, OSError)


def _looks_like_lost_link(error: OperationalError) -> bool:
    text = str(error).lower()
    return any(
        phrase in text
        for phrase in ("connection", "server has gone away", "lost connection", "can't connect", "closed")
    )
