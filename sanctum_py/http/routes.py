"""Every route of the service, in one table."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sanctum_py.http.handlers import auth
from sanctum_py.http.keys import POLICIES, Handler, RoutePolicy


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    policy: RoutePolicy


PUBLIC = RoutePolicy(authenticated=False)
SIGNED_IN = RoutePolicy(authenticated=True)

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/register", auth.register, PUBLIC),
    Route("POST", "/api/login", auth.login, PUBLIC),
    Route("POST", "/api/logout", auth.logout, SIGNED_IN),
    Route("GET", "/api/me", auth.me, SIGNED_IN),
)


def setup_routes(app: web.Application) -> None:
    policies: dict[Handler, RoutePolicy] = {}
    for route in ROUTES:
        # Laravel's router ignores a trailing slash, and answers HEAD wherever it answers GET.
        for path in (route.path, route.path + "/"):
            app.router.add_route(route.method, path, route.handler)
            if route.method == "GET":
                app.router.add_route("HEAD", path, route.handler)
        policies[route.handler] = route.policy
    app[POLICIES] = policies
