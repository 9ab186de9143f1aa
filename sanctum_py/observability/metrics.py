"""Prometheus metrics of one app: requests, latency, logins, throttles, tokens, database errors.

Each app gets its own CollectorRegistry (never prometheus_client's global one): tests build many apps in
one process, and two apps must not share or collide on series. With METRICS=off no Metrics object exists
and the request path does not know about metrics at all; on, a request costs one dict lookup, two clock
reads and a few integer updates (http_metrics).

With WORKERS > 1 each worker counts its own requests and a scrape reaches one of them (they share the
port): scrape each worker separately or run one worker per container.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, ProcessCollector, generate_latest

from sanctum_py.core.events import AuthEvents, LoginOutcome, TokenKind
from sanctum_py.observability.http_metrics import HttpMetrics

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics(AuthEvents):
    """The registry of one app, its series, and the AuthEvents the core reports to."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU, memory, open files: read at scrape time only
        self.http = HttpMetrics()
        self.registry.register(self.http)
        self.observe_request = self.http.observe_request
        logins = Counter("sanctum_logins", "Sign-ins by outcome", ("outcome",), registry=self.registry)
        issued = Counter("sanctum_tokens_issued", "Plain-text tokens handed out", ("kind",), registry=self.registry)
        revoked = Counter("sanctum_tokens_revoked", "Tokens revoked before expiry", ("kind",), registry=self.registry)
        self.database_errors_total = Counter(
            "sanctum_database_errors", "Requests answered 503 because the database failed", registry=self.registry
        )
        # Every bounded series exists from the first scrape: rate() over a series that appears late misses it.
        self._logins = _children(logins, get_args(LoginOutcome))
        self._issued = _children(issued, get_args(TokenKind))
        self._revoked = _children(revoked, get_args(TokenKind))

    # --- AuthEvents --------------------------------------------------------------------------------

    def login(self, outcome: LoginOutcome) -> None:
        self._logins[outcome].inc()

    def tokens_issued(self, kind: TokenKind, count: int = 1) -> None:
        self._issued[kind].inc(count)

    def tokens_revoked(self, kind: TokenKind, count: int) -> None:
        self._revoked[kind].inc(count)

    def database_error(self) -> None:
        self.database_errors_total.inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes (CONTENT_TYPE)."""
        return generate_latest(self.registry)


def _children(metric: Counter, labels: tuple[str, ...]) -> dict[str, Counter]:
    return {label: metric.labels(label) for label in labels}
