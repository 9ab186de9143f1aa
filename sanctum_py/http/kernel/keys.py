"""Typed keys for everything stored on the application and on requests, and what a route is made of."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sanctum_py.core.token_cache import VerifiedToken
from sanctum_py.observability.metrics import Metrics
from sanctum_py.wiring import Services

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A dialect's way of answering any failure (its own exceptions, a core AuthError, anything else).
Renderer = Callable[[web.Request, BaseException], web.StreamResponse]


@dataclass(frozen=True)
class Dialect:
    """One wire: the paths it owns and how it answers failures. Requests that match no route are
    answered by the dialect with the longest `prefix` of their path."""

    name: str
    prefix: str
    render: Renderer
    # Whether the guard tells an expired token apart from a bad one (TOKEN_EXPIRED): one more read, only
    # after a refusal, for wires whose clients are told to sign in again.
    explains_expiry: bool = False


@dataclass(frozen=True)
class RoutePolicy:
    """What runs before a handler: Sanctum's guard, then the named rate limiter, then the route's own
    middleware (abilities, roles, verified email, password confirmation), in Laravel's order."""

    authenticated: bool = False
    throttle: str | None = "api"
    # The named limiter's budget: `throttle_limit` requests per `throttle_decay_seconds` (Laravel's
    # `throttle:6,1` is 6 per 60 s; "1 per 30 s" is 1 and 30). No limit: API_RATE_LIMIT a minute.
    throttle_limit: int | None = None
    throttle_decay_seconds: int = 60
    # Sanctum's `abilities:` middleware: the token must carry every one of these (or "*").
    abilities: tuple[str, ...] = ()
    # Only users with one of these roles pass (403 "This action is unauthorized." otherwise).
    roles: tuple[str, ...] = ()
    # Reachable by users whose email is unverified even when REQUIRE_VERIFIED_EMAIL is on.
    allow_unverified: bool = False
    # Laravel's `password.confirm` (Fortify's `confirmPassword` option): 423 unless this token confirmed
    # its password within PASSWORD_TIMEOUT. Checked last, after the abilities and roles.
    password_confirmed: bool = False


SERVICES = web.AppKey("services", Services)
METRICS = web.AppKey("metrics", Metrics)  # only with METRICS=on
AUTH = web.RequestKey("auth", VerifiedToken)  # the token of an authenticated request


def current(request: web.Request) -> VerifiedToken:
    return request[AUTH]
