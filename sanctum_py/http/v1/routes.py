"""The v1 wire's routes (seeds 000/001, base /api/v1/auth) and its dialect."""

from __future__ import annotations

from sanctum_py.http.kernel.keys import Dialect, RoutePolicy
from sanctum_py.http.kernel.routing import Route
from sanctum_py.http.v1 import handlers
from sanctum_py.http.v1.render import render_exception

BASE = "/api/v1/auth"
PUBLIC = RoutePolicy(authenticated=False)
SIGNED_IN = RoutePolicy(authenticated=True)
# Signing out stays possible before the email is verified (REQUIRE_VERIFIED_EMAIL), as on the Laravel wire.
SIGNED_IN_UNVERIFIED = RoutePolicy(authenticated=True, allow_unverified=True)

# Everything under /api/v1/ answers in this dialect, unknown paths included; its clients are told when a
# token expired (seed 000: "the user is sent to log in again").
V1 = Dialect("v1", "/api/v1/", render_exception, explains_expiry=True)

V1_ROUTES: tuple[Route, ...] = (
    Route("POST", f"{BASE}/register", handlers.register, PUBLIC),
    Route("POST", f"{BASE}/login", handlers.login, PUBLIC),
    Route("POST", f"{BASE}/two-factor-auth", handlers.two_factor_auth, PUBLIC),
    Route("POST", f"{BASE}/logout", handlers.logout, SIGNED_IN_UNVERIFIED),
    Route("POST", f"{BASE}/refresh-token", handlers.refresh_token, PUBLIC),
    Route("POST", f"{BASE}/forgot-password", handlers.forgot_password, PUBLIC),
    Route("POST", f"{BASE}/reset-password", handlers.reset_password, PUBLIC),
    Route("POST", f"{BASE}/verify-email", handlers.verify_email, PUBLIC),
    Route("GET", f"{BASE}/me", handlers.me, SIGNED_IN),
)
