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

from sanctum_py.core.errors import AuthError, ErrorCode

UNTRIMMED_FIELDS = frozenset({"password", "password_confirmation", "current_password"})
PHP_TRIM = " \t\n\r\0\x0b"  # the characters PHP's trim() strips
JSON_MAX_DEPTH = 512  # json_decode's default $depth
PHP_MAX_INPUT_NESTING = 64  # php.ini's max_input_nesting_level


async def read_input(request: web.Request, *, strict_json: bool = False) -> dict[str, Any]:
    """With `strict_json` (wires other than Laravel's), a JSON body that does not decode to an object is
    MALFORMED_BODY instead of an empty input; an empty body is still empty input."""
    body = await _read_body(request, strict_json)
    query = _php_form(request.query_string)
    merged = {**query, **body}
    return {key: _clean(key, value) for key, value in merged.items()}


async def _read_body(request: web.Request, strict_json: bool) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    content_type = request.headers.get("Content-Type", "")
    # Request::isJson() looks for "/json" or "+json" case-sensitively; PHP fills $_POST only for the
    # two form types, compared in lower case up to the first ";", "," or " ".
    if "/json" in content_type or "+json" in content_type:
        raw = await request.read()
        decoded = _json_object(raw)
        if decoded is None and strict_json and raw.strip():
            raise AuthError(ErrorCode.MALFORMED_BODY)
        return decoded or {}
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


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """The decoded object; None for anything json_decode would not give as an array."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject, parse_int=_php_int)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or _has_lone_surrogate(value) or _depth(value) > JSON_MAX_DEPTH:
        return None
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
    """Register variables as PHP does: `a b.c` becomes `a_b_c`, `a[]=1&a[k]=2` builds arrays (lists
    when the keys are 0..n-1), a later plain `a=3` replaces them; nesting too deep drops the variable."""
    result: dict[str, Any] = {}
    # id(array) -> (array, the index `[]` appends at: PHP's nNextFreeElement); holding the array
    # keeps its id from being reused by a later one.
    next_free: dict[int, tuple[dict[Any, Any], int]] = {}

    def slot(array: dict[Any, Any], part: str | None) -> Any:
        free = next_free.get(id(array), (array, 0))[1]
        index: Any = free if part is None else _php_key(part)
        if isinstance(index, int):
            next_free[id(array)] = (array, max(free, index + 1))
        return index

    for key, value in pairs:
        path = _php_variable_path(key)
        if path is None:
            continue
        array: dict[Any, Any] = result
        index: Any = path[0]  # the variable's name (never None), then the keys slot() gives
        if len(path) > PHP_MAX_INPUT_NESTING + 1:
            result.pop(index, None)
            continue
        for part in path[1:]:
            if not isinstance(array.get(index), dict):
                array[index] = {}
            array = array[index]
            index = slot(array, part)
        array[index] = value
    return {key: _php_lists(value) for key, value in result.items()}


def _php_variable_path(key: str) -> list[str | None] | None:
    """`a b[x][]` -> ["a_b", "x", None]; None when PHP ignores the variable."""
    if key.isidentifier():  # the usual case, and nothing in it PHP would change
        return [key]
    key = key.split("\0", 1)[0].lstrip(" ")
    bracket = key.find("[")
    base = (key if bracket < 0 else key[:bracket]).replace(" ", "_").replace(".", "_")
    if not base:
        return None
    path: list[str | None] = [base]
    rest = key[bracket:] if bracket >= 0 else ""
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:  # an unmatched first "[" stays in the name, as "_"; a later one ends the path
            return [base + "_" + rest[1:]] if len(path) == 1 else path
        path.append(rest[1:close] or None)
        rest = rest[close + 1 :]
    return path


def _php_key(part: str) -> str | int:
    """Array keys that are canonical decimal integers become integers."""
    return int(part) if re.fullmatch(r"-?[1-9][0-9]{0,17}|0", part) else part


def _php_lists(value: Any) -> Any:
    """PHP arrays keyed 0..n-1 are what json_decode would give as lists."""
    if not isinstance(value, dict):
        return value
    items = {key: _php_lists(item) for key, item in value.items()}
    return list(items.values()) if list(items) == list(range(len(items))) else items


def _clean(key: str, value: Any) -> Any:
    """TrimStrings + ConvertEmptyStringsToNull; nested keys are dotted (`password.0`), so only a
    top-level password escapes trimming, as in Laravel."""
    if isinstance(value, str):
        if key not in UNTRIMMED_FIELDS:
            value = value.strip(PHP_TRIM)
        return None if value == "" else value
    # Plain loops, not comprehensions: one stack frame per level of a 512-deep JSON body.
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            items.append(_clean(f"{key}.{index}", item))
        return items
    if isinstance(value, dict):
        cleaned = {}
        for sub, item in value.items():
            cleaned[sub] = _clean(f"{key}.{sub}", item)
        return cleaned
    return value


def path_id(raw: str) -> int | None:
    """A route's `{id}` as a row id, or None when no row can have it (PHP would find nothing either)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
