"""How v1 writes a body: compact UTF-8 JSON, Turkish letters as they are (not PHP's \\u escapes)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

JSON = "application/json"


def v1_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type=JSON, charset="utf-8", headers=headers)


def error(message: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return v1_response({"error": message}, status, headers)
