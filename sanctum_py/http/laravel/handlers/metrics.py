"""GET /metrics: Prometheus' text format, with METRICS=on; with metrics off, Laravel's 404 (as /api/refresh
answers with refresh tokens off: the route stays, so the contract has one shape whatever the settings).

With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` gets the metrics; anything else is
Laravel's 401. The comparison runs on SHA-256 digests in constant time, so neither the token's content
nor its length shows in the answer's timing. No throttle: a scraper calls every few seconds, for ever.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from pydantic import SecretStr

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.kernel.keys import METRICS, SERVICES
from sanctum_py.http.laravel.responses import NotFound
from sanctum_py.observability.metrics import CONTENT_TYPE, Metrics

METRICS_PATH = "/metrics"


def setup_metrics(app: web.Application, metrics: Metrics | None) -> None:
    if metrics is not None:
        app[METRICS] = metrics


async def scrape(request: web.Request) -> web.Response:
    metrics = request.app.get(METRICS)
    if metrics is None:
        raise NotFound("")
    expected = request.app[SERVICES].settings.metrics_token
    if expected is not None and not _matches(bearer_token(request.headers.get("Authorization")), expected):
        raise AuthError(ErrorCode.UNAUTHENTICATED)
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


def _matches(presented: str | None, expected: SecretStr) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(_digest(presented), _digest(expected.get_secret_value()))


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
