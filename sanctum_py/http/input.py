"""Request input the way Laravel sees it: `$request->all()` after TrimStrings and ConvertEmptyStringsToNull.

- JSON when the Content-Type names json; a body that does not decode (malformed, invalid UTF-8, lone
  surrogates, an array or a scalar) counts as empty, as PHP's json_decode failing does.
- Form-encoded and multipart bodies otherwise, with PHP's `name[]=` / `name[key]=` arrays.
- Query-string parameters fill in what the body does not say.
- Strings are trimmed of PHP's trim() characters, except passwords; empty strings become None.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

UNTRIMMED_FIELDS = frozenset({"password", "password_confirmation", "current_password"})
_PHP_TRIM = " \t\n\r\0\x0b"


async def read_input(request: web.Request) -> dict[str, Any]:
    body = await _read_body(request)
    query = _php_form(request.query_string)
    merged = {**query, **body}
    return {key: _clean(key, value) for key, value in merged.items()}


async def _read_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    content_type = request.headers.get("Content-Type", "").lower()
    if "/json" in content_type or "+json" in content_type:
        return _json_object(await request.read())
    if content_type.startswith("application/x-www-form-urlencoded"):
        raw = await request.read()
        return _php_form(raw.decode("utf-8", "surrogateescape"))
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.post()
        except ValueError:
            return {}
        return _php_pairs(list(form.items()))
    await request.read()  # drain it, so the connection stays usable
    return {}


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if not isinstance(value, dict) or _has_lone_surrogate(value):
        return {}
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """PHP's json_decode rejects `"\\ud800"`; Python accepts it and would crash later when encoding."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _php_form(text: str) -> dict[str, Any]:
    if not text:
        return {}
    pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
    return _php_pairs(pairs)


def _php_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Fold `a[]=1&a[]=2` and `a[k]=v` into lists and dicts, as PHP does; the last plain key wins."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        bracket = key.find("[")
        if bracket <= 0 or not key.endswith("]"):
            result[key] = value
            continue
        base, sub = key[:bracket], key[bracket + 1 : -1]
        container = result.get(base)
        if sub == "":
            if not isinstance(container, list):
                container = []
            container.append(value)
        else:
            if not isinstance(container, dict):
                container = {}
            container[sub] = value
        result[base] = container
    return result


def _clean(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if key not in UNTRIMMED_FIELDS:
            value = value.strip(_PHP_TRIM)
        return None if value == "" else value
    if isinstance(value, list):
        return [_clean(key, item) for item in value]
    if isinstance(value, dict):
        return {k: _clean(k, v) for k, v in value.items()}
    return value
