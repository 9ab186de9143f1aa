"""The envelope wire's routes (seed 003, base /api/auth) and its dialect."""

from __future__ import annotations

from sanctum_py.http.envelope import handlers
from sanctum_py.http.envelope.render import render_exception
from sanctum_py.http.kernel.keys import Dialect, RoutePolicy
from sanctum_py.http.kernel.routing import Route

BASE = "/api/auth"
PUBLIC = RoutePolicy(authenticated=False)
SIGNED_IN = RoutePolicy(authenticated=True)
# Signing out stays possible before the email is verified (REQUIRE_VERIFIED_EMAIL), as on the other wires.
SIGNED_IN_UNVERIFIED = RoutePolicy(authenticated=True, allow_unverified=True)

# Everything under /api/auth/ answers in this dialect, unknown paths included; its clients are told when
# a token expired (they must sign in again or refresh).
ENVELOPE = Dialect("envelope", "/api/auth/", render_exception, explains_expiry=True)

ENVELOPE_ROUTES: tuple[Route, ...] = (
    Route("POST", f"{BASE}/login", handlers.login, PUBLIC),
    Route("POST", f"{BASE}/register", handlers.register, PUBLIC),
    Route("POST", f"{BASE}/refresh", handlers.refresh, PUBLIC),
    Route("POST", f"{BASE}/logout", handlers.logout, SIGNED_IN_UNVERIFIED),
    Route("POST", f"{BASE}/password-reset/request", handlers.request_reset, PUBLIC),
    Route("POST", f"{BASE}/password-reset/confirm", handlers.confirm_reset, PUBLIC),
    Route("GET", f"{BASE}/me", handlers.me, SIGNED_IN),
)
