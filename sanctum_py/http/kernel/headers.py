"""Headers the kernel adds to responses, whatever the dialect."""

from __future__ import annotations

import time
from collections.abc import Mapping

from sanctum_py.core.errors import AuthError

# On every response (kernel/entry.py, protocol_errors.py): no MIME sniffing, and a Server header that
# names no versions (aiohttp's own says `Python/3.11 aiohttp/3.x`, a scanner's shopping list).
EVERY_RESPONSE_HEADERS: Mapping[str, str] = {"Server": "sanctum_py", "X-Content-Type-Options": "nosniff"}
# On every response of a signed-in route: each may carry personal data, and none may be stored.
SIGNED_IN_HEADERS: Mapping[str, str] = {**EVERY_RESPONSE_HEADERS, "Cache-Control": "no-store"}
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store"}


def throttle_headers(failure: AuthError) -> dict[str, str]:
    """A TOO_MANY_ATTEMPTS answer's headers, on every wire: Laravel's ThrottleRequestsException's."""
    retry_after = failure.retry_after or 0
    return {
        "X-RateLimit-Limit": str(failure.limit or 0),
        "X-RateLimit-Remaining": "0",
        "Retry-After": str(retry_after),
        "X-RateLimit-Reset": str(int(time.time()) + retry_after),
    }
