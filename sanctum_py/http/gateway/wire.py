"""How the gateway wire writes a body: compact JSON, OAuth's `{"error": "<code>"}` for every failure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

JSON = "application/json"
# RFC 6749 §5.1 (which RFC 7662 answers follow): token data is never cached, by the client or on the way.
NO_CACHE: Mapping[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def gateway_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type=JSON, headers={**NO_CACHE, **(headers or {})})


def error(code: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return gateway_response({"error": code}, status, headers)
