"""Per-request series (count, latency, 429s), kept as plain numbers and turned into Prometheus metrics only
when scraped.

prometheus_client's Counter and Histogram children take a lock on every increment (about 2 µs for a
counter plus a histogram); requests are only ever observed on the event loop's thread, so plain integer
cells need no lock and cost a few hundred nanoseconds. A scrape runs on that same thread, so it never
sees a half-made update.

Labels are bounded: the route *template* (`/api/tokens/{id}`, never the raw path), the route's method, the
status; requests that match no route (404, 405) share the `unmatched` template, and a method outside
HTTP's usual verbs counts as `other`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

if TYPE_CHECKING:
    from aiohttp import web

UNMATCHED = "unmatched"  # the label of requests no route took, and the name of the catch-all route
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
# Seconds. Finer than prometheus_client's defaults at the low end: /api/me answers in about a millisecond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Latency:
    """One histogram series: per-bucket counts (not cumulative; the last one is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class Cells:
    """The series one (route, status) pair updates: its request count, its route's latency, its 429s."""

    __slots__ = ("latency", "requests", "throttled")

    def __init__(self, requests: list[int], latency: Latency, throttled: list[int] | None) -> None:
        self.requests = requests
        self.latency = latency
        self.throttled = throttled


class HttpMetrics:
    """A prometheus_client collector (register it in a registry) fed by observe_request."""

    def __init__(self) -> None:
        self._cells: dict[tuple[object, ...], Cells] = {}
        self._requests: dict[tuple[str, str, str], list[int]] = {}  # (method, route, status) -> [count]
        self._latency: dict[tuple[str, str], Latency] = {}  # (method, route)
        self._throttled: dict[str, list[int]] = {}  # route -> [count]

    def observe_request(self, request: web.Request, status: int, seconds: float) -> None:
        route = request.match_info.route
        # A matched route object lives as long as the app: a cheap, bounded key. Requests that matched no
        # real route (the catch-all, http/entry.py) are keyed by their labels, the method bounded first.
        resource = route.resource
        if resource is not None and resource.name != UNMATCHED:
            key: tuple[object, ...] = (route, status)
        else:
            key = (UNMATCHED, request.method if request.method in KNOWN_METHODS else "other", status)
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = self._new_cells(route, key, status)
        cells.requests[0] += 1
        latency = cells.latency
        latency.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: seconds <= bound
        latency.total += seconds
        if cells.throttled is not None:
            cells.throttled[0] += 1

    def _new_cells(self, route: web.AbstractRoute, key: tuple[object, ...], status: int) -> Cells:
        resource = route.resource
        if resource is None or key[0] == UNMATCHED:
            method, template = str(key[1]), UNMATCHED
        else:
            method, template = route.method, resource.canonical
        requests = self._requests.setdefault((method, template, str(status)), [0])
        latency = self._latency.setdefault((method, template), Latency())
        throttled = self._throttled.setdefault(template, [0]) if status == 429 else None
        return Cells(requests, latency, throttled)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "sanctum_http_requests",
            "HTTP requests answered, by route template, method and status",
            labels=("method", "route", "status"),
        )
        for labels, (count,) in sorted(self._requests.items()):
            requests.add_metric(labels, count)
        yield requests
        latency = HistogramMetricFamily(
            "sanctum_http_request_duration_seconds",
            "Time from routing to the response being ready, by route template and method",
            labels=("method", "route"),
        )
        for latency_labels, series in sorted(self._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), series.counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric(latency_labels, buckets, series.total)
        yield latency
        throttled = CounterMetricFamily(
            "sanctum_http_throttled_requests",
            "Requests answered 429 Too Many Attempts, by route template",
            labels=("route",),
        )
        for route, (count,) in sorted(self._throttled.items()):
            throttled.add_metric((route,), count)
        yield throttled
