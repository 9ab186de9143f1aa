"""What the core reports as it works: logins, tokens issued and revoked, database outages.

The services call these methods and know nothing of who listens. The default listener does nothing,
so the core stays usable without HTTP or Prometheus (CLI, scripts, tests); the HTTP app passes one
that counts (sanctum_py.observability.metrics). Methods take only bounded labels, never a value
from a request: an identifier or a secret must not become a metric label.
"""

from __future__ import annotations

from typing import Literal

LoginOutcome = Literal["ok", "failed", "throttled", "inactive"]
TokenKind = Literal["access", "refresh"]


class AuthEvents:
    """Listener interface and null implementation in one: subclasses override what they count."""

    def login(self, outcome: LoginOutcome) -> None:
        """A sign-in ended: a session was started ("ok"), or it was refused and why."""

    def tokens_issued(self, kind: TokenKind, count: int = 1) -> None:
        """New plain-text tokens were handed out."""

    def tokens_revoked(self, kind: TokenKind, count: int) -> None:
        """Tokens stopped working before their time (logout, revocation, reset, reuse detection)."""

    def database_error(self) -> None:
        """A request failed because the database could not be reached (answered 503)."""


NO_EVENTS = AuthEvents()
