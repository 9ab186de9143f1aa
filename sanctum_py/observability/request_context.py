"""The request being served, for log records: its id, taken from X-Request-Id or generated.

The route entry (http/entry.py) puts the request in a context variable (one `set` per request, nothing more); the id
itself is worked out only when a record is formatted, so a request that logs nothing pays nothing.
Tasks started while serving (mail after the answer, last_used_at writes) copy the context and log
with the id of the request that started them. No response header is added: the wire stays Laravel's.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from aiohttp import web

CURRENT_REQUEST: ContextVar[web.BaseRequest | None] = ContextVar("sanctum_request", default=None)
REQUEST_ID = web.RequestKey("request_id", str)
REQUEST_ID_HEADER = "X-Request-Id"
# What a proxy or client may choose: bounded, and nothing that could break a log line or a JSON field
# (no quotes, spaces, control characters, backslashes). Anything else is replaced, not cleaned up.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_for(request: web.BaseRequest) -> str:
    """The request's id: its sane X-Request-Id, else a new random one, fixed at first use."""
    known: str | None = request.get(REQUEST_ID)
    if known is not None:
        return known
    offered = request.headers.get(REQUEST_ID_HEADER)
    request_id = offered if offered is not None and SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    return request_id


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None outside any request."""
    request = CURRENT_REQUEST.get()
    return request_id_for(request) if request is not None else None
