"""JSON bytes exactly as PHP's json_encode writes them.

Default flags: `/` is escaped as `\\/`, everything outside ASCII as lowercase `\\uXXXX` (astral characters
as surrogate pairs), compact separators. Laravel's exception handler instead renders with
JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES: four-space indent, `": "`, slashes left alone.
"""

from __future__ import annotations

import json
from typing import Any

_compact = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)
_pretty = json.JSONEncoder(ensure_ascii=True, indent=4, separators=(",", ": "), allow_nan=False)


def encode(value: Any) -> bytes:
    """Compact, slashes escaped: what Laravel's JsonResponse sends for 2xx, 401 and 422."""
    # Python's ASCII-only output is already PHP's for everything but "/", which can only occur
    # inside strings, so a plain replace is exact.
    return _compact.encode(value).replace("/", "\\/").encode("ascii")


def encode_pretty(value: Any) -> bytes:
    """Pretty-printed, slashes unescaped: what Laravel's exception handler sends (404, 405, 429, 500)."""
    return _pretty.encode(value).encode("ascii")
