"""Request input the way Laravel sees it: `$request->all()` after TrimStrings and ConvertEmptyStringsToNull.

- JSON when the Content-Type names json; a body that does not decode (malformed, invalid UTF-8, lone
  surrogates, NaN, nested deeper than 512, an array or a scalar) counts as empty, as PHP's
  json_decode failing does.
- Form-encoded and multipart bodies otherwise, with PHP's `name[]=` / `name[key]=` arrays.
- Query-string parameters fill in what the body does not say.
- Strings are trimmed of PHP's trim() characters, except passwords; empty strings become None.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

UNTRIMMED_FIELDS = frozenset({"password", "password_confirmation", "current_password"})
PHP_TRIM = " \t\n\r\0\x0b"  # the characters PHP's trim() strips
JSON_MAX_DEPTH = 512  # json_decode's default $depth


async def read_input(request: web.Request) -> dict[str, Any]:
    body = await _read_body(request)
    query = _php_form(request.query_string)
    merged = {**query, **body}
    return {key: _clean(key, value) for key, value in merged.items()}


async def _read_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    content_type = request.headers.get("Content-Type", "")
    # Request::isJson() looks for "/json" or "+json" case-sensitively; PHP fills $_POST only for the
    # two form types, compared in lower case up to the first ";", "," or " ".
    if "/json" in content_type or "+json" in content_type:
        return _json_object(await request.read())
    media_type = re.split(r"[;, ]", content_type, maxsplit=1)[0].lower()
    if media_type == "application/x-www-form-urlencoded":
        raw = await request.read()
        return _php_form(raw.decode("utf-8", "surrogateescape"))
    if media_type == "multipart/form-data":
        try:
            form = await request.post()
        except ValueError:
            return {}
        return _php_pairs(list(form.items()))
    await request.read()  # drain it, so the connection stays usable
    return {}


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject, parse_int=_php_int)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if not isinstance(value, dict) or _has_lone_surrogate(value) or _depth(value) > JSON_MAX_DEPTH:
        return {}
    return value


def _reject(constant: str) -> Any:
    """NaN and Infinity are Python extensions to JSON; json_decode refuses them."""
    raise ValueError(constant)


def _php_int(text: str) -> int | float:
    """json_decode turns integers outside PHP's 64-bit range into floats."""
    number = int(text) if len(text) <= 20 else None
    return number if number is not None and -(2**63) <= number < 2**63 else float(text)


def _depth(value: Any) -> int:
    """Nesting depth as json_decode counts it: `{}` is 1, `{"a": []}` is 2."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


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
    """TrimStrings + ConvertEmptyStringsToNull; nested keys are dotted (`password.0`), so only a
    top-level password escapes trimming, as in Laravel."""
    if isinstance(value, str):
        if key not in UNTRIMMED_FIELDS:
            value = value.strip(PHP_TRIM)
        return None if value == "" else value
    if isinstance(value, list):
        return [_clean(f"{key}.{index}", item) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: _clean(f"{key}.{k}", v) for k, v in value.items()}
    return value
