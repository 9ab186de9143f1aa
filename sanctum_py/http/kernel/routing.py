"""Routes of every dialect registered on one app, each behind the kernel's entry, and one catch-all.

Each dialect lists its routes (method, path, handler, policy); `mount` registers them all, then a last
catch-all route for every method and path, so a request that matches nothing is answered 404 or 405 by
the dialect that owns the longest prefix of its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from sanctum_py.http.kernel.entry import UNMATCHED_PATH, entry, unmatched
from sanctum_py.http.kernel.keys import SERVICES, Dialect, Handler, RoutePolicy
from sanctum_py.observability.http_metrics import UNMATCHED as UNMATCHED_NAME
from sanctum_py.observability.metrics import Metrics


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    policy: RoutePolicy | None  # None: no guard, no throttle (docs, metrics)
    slash_twin: bool = True  # Laravel's router ignores a trailing slash; so do the other dialects


@dataclass(frozen=True)
class MountedDialect:
    dialect: Dialect
    routes: Sequence[Route]


def mount(app: web.Application, dialects: Sequence[MountedDialect], metrics: Metrics | None) -> None:
    services = app[SERVICES]
    for mounted in dialects:
        for route in mounted.routes:
            handler = entry(route.handler, route.policy, mounted.dialect, services, metrics)
            for path in (route.path, route.path + "/") if route.slash_twin else (route.path,):
                app.router.add_route(route.method, path, handler)
                if route.method == "GET":  # Laravel answers HEAD wherever it answers GET
                    app.router.add_route("HEAD", path, handler)
    owners = sorted((mounted.dialect for mounted in dialects), key=lambda dialect: len(dialect.prefix), reverse=True)

    def owner_of(path: str) -> Dialect:
        return next((dialect for dialect in owners if path.startswith(dialect.prefix)), owners[-1])

    # Last, so every real route is tried first: whatever matches none gets its dialect's 404 or 405.
    app.router.add_route("*", UNMATCHED_PATH, entry(unmatched, None, owner_of, services, metrics), name=UNMATCHED_NAME)
