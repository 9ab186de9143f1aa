"""The services allowed to introspect tokens (RFC 7662 §2.1 wants the caller authenticated), and the check
of their credentials. Plain async Python, no HTTP: the dialect hands over what the request carried.

Only SHA-256 digests of client secrets are configured (INTROSPECTION_CLIENTS): a leaked configuration or
environment dump grants nothing. SHA-256 rather than bcrypt because the secrets are machine-made and long
(32 random bytes, README) — guessing one from its digest is hopeless — and because introspection sits on a
resource server's hot path, where a bcrypt per call (tens of ms) would cost more than the lookup it guards.

Unknown client ids and wrong secrets take the same path (one hash, one constant-time comparison against a
digest, a stand-in one for an unknown id), and wrong credentials are counted per client address: after
INTROSPECTION_MAX_FAILURES in a minute every attempt from that address is refused until the minute is over,
the right credentials included (as the login throttle does), so a secret cannot be guessed online either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sanctum_py.core.errors import throttled
from sanctum_py.core.ratelimit import RateLimiter

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
FAILURE_WINDOW_SECONDS = 60
# Compared against when the client id is unknown, so an unknown id costs what a wrong secret costs.
_STAND_IN = hashlib.sha256(b"sanctum_py/no-such-introspection-client").digest()


def parse_clients(configured: str) -> dict[str, bytes]:
    """INTROSPECTION_CLIENTS (`id:sha256:<64 hex>`, comma-separated) as client id -> secret digest.

    ValueError for a malformed entry, naming its position only: the text may be a secret pasted by mistake,
    and an error message ends up in logs."""
    clients: dict[str, bytes] = {}
    for position, entry in enumerate((part.strip() for part in configured.split(",")), start=1):
        if not entry:
            continue
        client_id, _, rest = entry.partition(":")
        scheme, _, digest = rest.partition(":")
        client_id = client_id.strip()
        if not client_id or scheme.strip().lower() != "sha256" or not _SHA256_HEX.fullmatch(digest.strip()):
            raise ValueError(f"INTROSPECTION_CLIENTS entry {position} is not `client-id:sha256:<64 hex digits>`")
        if client_id in clients:
            raise ValueError(f"INTROSPECTION_CLIENTS entry {position} repeats a client id")
        clients[client_id] = bytes.fromhex(digest.strip())
    return clients


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a request presented (HTTP Basic, already decoded by the dialect)."""

    client_id: str
    secret: str


class GatewayClients:
    def __init__(self, clients: Mapping[str, bytes], limiter: RateLimiter, max_failures: int) -> None:
        self._clients = dict(clients)
        self._limiter = limiter
        self.max_failures = max_failures

    @property
    def enabled(self) -> bool:
        """No client configured: nobody may introspect, and the endpoint does not exist."""
        return bool(self._clients)

    async def authenticate(self, presented: ClientCredentials | None, address: str) -> str | None:
        """The client id when `presented` are a configured client's credentials, else None.

        Raises TOO_MANY_ATTEMPTS while `address` has spent its failures (whatever it presents now). Absent
        credentials are refused without being counted: they guess nothing."""
        key = f"introspection-client:{address}"
        retry_after = await self._limiter.blocked_for(key, self.max_failures)
        if retry_after is not None:
            raise throttled(self.max_failures, retry_after)
        if presented is None:
            return None
        expected = self._clients.get(presented.client_id)
        matches = hmac.compare_digest(secret_digest(presented.secret), expected or _STAND_IN)
        if matches and expected is not None:
            return presented.client_id
        await self._limiter.hit(key, FAILURE_WINDOW_SECONDS)
        return None
