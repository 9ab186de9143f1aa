"""The gateway wire's routes and its dialects (one per path: each owns only its own path, so an unknown
path elsewhere stays the Laravel wire's 404).

Forward auth answers every method a proxied request may have, alike. nginx 1.22 sends its auth_request
subrequest as GET whatever the client's method (measured, tests/test_nginx_gateway.py), Traefik sends GET
with X-Forwarded-Method (or the original method with `forwardBody`), and other gateways differ: a 405 here
would reach the client as the gateway's 500. It is not rate limited (README: a gateway calls it once per
upstream request, and a 429 would also become nginx's 500); introspection limits failed client
authentications itself.
"""

from __future__ import annotations

from sanctum_py.http.gateway import handlers
from sanctum_py.http.gateway.render import render_exception
from sanctum_py.http.kernel.keys import Dialect, RoutePolicy
from sanctum_py.http.kernel.routing import Route

INTROSPECT_PATH = "/oauth/introspect"
FORWARD_PATH = "/auth/forward"
FORWARD_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # HEAD rides on GET (routing.py)

INTROSPECTION = Dialect("gateway", INTROSPECT_PATH, render_exception)
FORWARD = Dialect("gateway", FORWARD_PATH, render_exception)

INTROSPECTION_ROUTES: tuple[Route, ...] = (
    Route("POST", INTROSPECT_PATH, handlers.introspect, RoutePolicy(authenticated=False, throttle=None)),
)
FORWARD_ROUTES: tuple[Route, ...] = tuple(
    Route(method, FORWARD_PATH, handlers.forward, RoutePolicy(authenticated=True, throttle=None))
    for method in FORWARD_METHODS
)
