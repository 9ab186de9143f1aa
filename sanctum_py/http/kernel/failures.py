"""Any exception that escapes a handler, as a core ErrorCode: what every dialect's renderer falls back on.

Unexpected exceptions are logged with their traceback (server side only) and become INTERNAL. Database
outages become SERVICE_UNAVAILABLE (counted once, for metrics), so a load balancer can retry elsewhere
and the service recovers by itself when the database does. Nothing here knows a wire's words.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from tortoise.exceptions import DBConnectionError, OperationalError

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.events import AuthEvents
from sanctum_py.db.outage import is_database_missing, is_link_failure

log = logging.getLogger("sanctum_py.http")

# The HTTP exceptions aiohttp (or the kernel) raises, by status.
_HTTP_CODES = {
    400: ErrorCode.MALFORMED_BODY,
    404: ErrorCode.ROUTE_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.REQUEST_TIMEOUT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


def classify(request: web.Request, error: BaseException, events: AuthEvents) -> AuthError:
    """`error` as an AuthError. For METHOD_NOT_ALLOWED, `fields` are the methods the path takes."""
    if isinstance(error, AuthError):
        return error
    if isinstance(error, web.HTTPMethodNotAllowed):
        return AuthError(ErrorCode.METHOD_NOT_ALLOWED, fields=tuple(sorted(error.allowed_methods)))
    if isinstance(error, web.HTTPException) and error.status in _HTTP_CODES:
        return AuthError(_HTTP_CODES[error.status])
    if is_outage(error):
        log.error("database unavailable: %s", type(error).__name__)
        events.database_error()
        return AuthError(ErrorCode.SERVICE_UNAVAILABLE)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return AuthError(ErrorCode.INTERNAL)


def is_outage(error: BaseException) -> bool:
    if isinstance(error, (DBConnectionError, ConnectionError, asyncio.TimeoutError)):
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
