"""The Laravel wire (seed 004, Sanctum and Fortify): its routes in one table, and its dialect."""

from __future__ import annotations

from sanctum_py.http.docs import docs_pages
from sanctum_py.http.kernel.keys import Dialect, RoutePolicy
from sanctum_py.http.kernel.routing import Route
from sanctum_py.http.laravel.handlers import admin, auth, devices, health, passwords, verification
from sanctum_py.http.laravel.handlers import password_confirmation as confirmation_routes
from sanctum_py.http.laravel.handlers import refresh as refresh_routes
from sanctum_py.http.laravel.handlers import two_factor as two_factor_routes
from sanctum_py.http.laravel.handlers.metrics import METRICS_PATH, scrape
from sanctum_py.http.laravel.render import render_exception

PUBLIC = RoutePolicy(authenticated=False)
SIGNED_IN = RoutePolicy(authenticated=True)
READ_TOKENS = RoutePolicy(authenticated=True, abilities=("tokens:read",))
DELETE_TOKENS = RoutePolicy(authenticated=True, abilities=("tokens:delete",))
# Sensitive routes need their ability, as token management needs `tokens:*`: a token issued with
# narrower abilities (a device token) cannot take over the account's 2FA or administer users.
# Login tokens carry `*` unless the client asked for less, so default flows are unchanged.
# 2FA management also wants a password confirmed by this very token (Fortify's `confirmPassword`).
TWO_FACTOR = RoutePolicy(authenticated=True, abilities=("two-factor",), password_confirmed=True)
ADMIN = RoutePolicy(authenticated=True, abilities=("admin",), roles=("admin",))
# Reachable before the email is verified (REQUIRE_VERIFIED_EMAIL): signing out, and verifying itself.
SIGNED_IN_UNVERIFIED = RoutePolicy(authenticated=True, allow_unverified=True)
# Fortify's `throttle:6,1` on both verification routes: one bucket of 6 a minute per user.
VERIFICATION = RoutePolicy(authenticated=True, throttle="verification", throttle_limit=6, allow_unverified=True)

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/register", auth.register, PUBLIC),
    Route("POST", "/api/login", auth.login, PUBLIC),
    Route("POST", "/api/logout", auth.logout, SIGNED_IN_UNVERIFIED),
    Route("GET", "/api/me", auth.me, SIGNED_IN),
    Route("POST", "/api/refresh", refresh_routes.refresh, PUBLIC),
    Route("POST", "/api/forgot-password", passwords.forgot_password, PUBLIC),
    Route("POST", "/api/reset-password", passwords.reset_password, PUBLIC),
    Route("POST", "/api/email/verification-notification", verification.send_notification, VERIFICATION),
    Route("GET", "/api/email/verify/{id}/{hash}", verification.verify, VERIFICATION),
    # No ability: a confirmation only unlocks routes whose own abilities the token must still carry.
    Route("POST", "/api/user/confirm-password", confirmation_routes.confirm_password, SIGNED_IN),
    Route("GET", "/api/user/confirmed-password-status", confirmation_routes.confirmed_password_status, SIGNED_IN),
    Route("POST", "/api/two-factor-challenge", two_factor_routes.challenge, PUBLIC),
    Route("POST", "/api/user/two-factor-authentication", two_factor_routes.enable, TWO_FACTOR),
    Route("POST", "/api/user/confirmed-two-factor-authentication", two_factor_routes.confirm, TWO_FACTOR),
    Route("DELETE", "/api/user/two-factor-authentication", two_factor_routes.disable, TWO_FACTOR),
    Route("GET", "/api/user/two-factor-qr-code", two_factor_routes.qr_code, TWO_FACTOR),
    Route("GET", "/api/user/two-factor-secret-key", two_factor_routes.secret_key, TWO_FACTOR),
    Route("GET", "/api/user/two-factor-recovery-codes", two_factor_routes.recovery_codes, TWO_FACTOR),
    Route("POST", "/api/user/two-factor-recovery-codes", two_factor_routes.regenerate_recovery_codes, TWO_FACTOR),
    Route("POST", "/sanctum/token", devices.device_token, PUBLIC),
    Route("GET", "/up", health.up, RoutePolicy(throttle=None)),
    Route("GET", "/api/tokens", devices.list_tokens, READ_TOKENS),
    Route("DELETE", "/api/tokens/{id}", devices.revoke_token, DELETE_TOKENS),
    Route("POST", "/api/logout-all", devices.logout_all, DELETE_TOKENS),
    Route("PATCH", "/api/users/{id}", admin.update_user, ADMIN),
)


LARAVEL = Dialect("laravel", "/", render_exception)


def laravel_routes() -> tuple[Route, ...]:
    """The Laravel wire's routes, its docs and /metrics (which answers 404 with metrics off: the route
    stays, so the contract has one shape)."""
    return (
        *ROUTES,
        *(Route("GET", path, handler, None, slash_twin=False) for path, handler in docs_pages()),
        Route("GET", METRICS_PATH, scrape, None),
    )
