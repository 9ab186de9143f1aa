"""Sanctum's guard, then the rate limiter, around each route, in Laravel's middleware order.

auth:sanctum runs before throttle:api (Laravel's middleware priority), so failed authentications are
never counted and a signed-in user's budget is keyed by user id rather than by address. Responses
that passed the throttle carry X-RateLimit-Limit/Remaining, even when the handler failed (422, 500).
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.ratelimit import Attempt
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.client_ip import client_ip
from sanctum_py.http.errors import render_exception
from sanctum_py.http.keys import AUTH, POLICIES, SERVICES, Handler, RoutePolicy
from sanctum_py.http.responses import Conflict, Forbidden, TooManyAttempts, Unauthenticated

API_DECAY_SECONDS = 60


async def run_route(request: web.Request, handler: Handler) -> web.StreamResponse:
    policy = request.app[POLICIES].get(handler)
    if policy is None:  # 404/405 and routes outside the API (docs): straight through
        return await handler(request)
    services = request.app[SERVICES]
    if policy.authenticated:
        verified = await services.tokens.authenticate(bearer_token(request.headers.get("Authorization")))
        if verified is None:
            raise Unauthenticated
        request[AUTH] = verified
    if policy.throttle is None:
        _authorize(request, policy)
        return await handler(request)
    attempt = await _throttle(request, policy.throttle, policy.throttle_per_minute)
    try:
        _authorize(request, policy)  # route middleware after the throttle, as in Laravel
        response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        raise  # a chunked body found too large while read: ValidatePostSize's 413, which Laravel sends unthrottled
    except Exception as error:
        response = render_exception(request, error)
    # ThrottleRequests::getHeaders leaves a response alone when an inner limiter (the login throttle)
    # already reported as few or fewer remaining attempts.
    inner = response.headers.get("X-RateLimit-Remaining")
    if inner is None or _php_int(inner) > attempt.remaining:
        response.headers["X-RateLimit-Limit"] = str(attempt.max_attempts)
        response.headers["X-RateLimit-Remaining"] = str(attempt.remaining)
    return response


def _authorize(request: web.Request, policy: RoutePolicy) -> None:
    verified = request.get(AUTH)
    if verified is None:
        return
    granted = verified.abilities
    if policy.abilities and "*" not in granted and not all(a in granted for a in policy.abilities):
        raise Forbidden("Invalid ability provided.")
    if policy.roles and verified.user.role not in policy.roles:
        raise Forbidden("This action is unauthorized.")
    settings = request.app[SERVICES].settings
    if settings.require_verified_email and not policy.allow_unverified and verified.user.email_verified_at is None:
        raise Conflict("Your email address is not verified.")


def _php_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


async def _throttle(request: web.Request, limiter_name: str, per_minute: int | None = None) -> Attempt:
    services = request.app[SERVICES]
    settings = services.settings
    verified = request.get(AUTH)
    who = (
        f"user:{verified.user.id}"
        if verified is not None
        else f"ip:{client_ip(request, tuple(settings.trusted_proxies))}"
    )
    limit = per_minute or settings.api_rate_limit
    attempt = await services.limiter.attempt(f"{limiter_name}:{who}", limit, API_DECAY_SECONDS)
    if not attempt.allowed:
        raise TooManyAttempts(attempt.max_attempts, attempt.retry_after)
    return attempt
