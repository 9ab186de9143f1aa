"""How the envelope wire writes a body (DESIGN §7.2): compact UTF-8 JSON, keys in the seed's order.

Success: `{"success":true,"message","data","pagination":null,"timestamp"}`; failure:
`{"success":false,"type","message","errors"?,"timestamp","path"}`. Timestamps are UTC with milliseconds
and `Z` (JavaScript's `toISOString()`, which the seed's client would print).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

JSON = "application/json"


def envelope_time(moment: datetime | None = None) -> str:
    """`2024-01-01T10:00:00.000Z`: now, or `moment` in UTC."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _response(body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None) -> web.Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=data, status=status, content_type=JSON, charset="utf-8", headers=headers)


def success(message: str, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"success": True, "message": message, "data": data, "pagination": None, "timestamp": envelope_time()}
    return _response(body, status, headers)


def failure(
    request: web.Request,
    status: int,
    kind: str,
    message: str,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """`errors` only when the failure concerns fields (the seed's `errors?`)."""
    body: dict[str, Any] = {"success": False, "type": kind, "message": message}
    if errors:
        body["errors"] = list(errors)
    body["timestamp"] = envelope_time()
    body["path"] = request.path
    return _response(body, status, headers)
