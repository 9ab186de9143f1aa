"""Sanctum's guard, then the rate limiter, around each route, in Laravel's middleware order.

auth:sanctum runs before throttle:api (Laravel's middleware priority), so failed authentications are
never counted and a signed-in user's budget is keyed by user id rather than by address. Responses
that passed the throttle carry X-RateLimit-Limit/Remaining, even when the handler failed (422, 500).
Route middleware follows the throttle: abilities (403), roles (403), verified email (409), then
`password.confirm` (423) last, so a token that lacks the ability is told so whether or not it
confirmed its password (confirming could not help it), and no confirmation is read for it.
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.container import Services
from sanctum_py.core.ratelimit import Attempt, MemoryRateLimiter
from sanctum_py.core.token_cache import VerifiedToken
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.client_ip import client_ip
from sanctum_py.http.errors import render_exception
from sanctum_py.http.keys import AUTH, Handler, RoutePolicy
from sanctum_py.http.responses import Conflict, Forbidden, TooManyAttempts, Unauthenticated, json_response

API_DECAY_SECONDS = 60
PASSWORD_CONFIRMATION_REQUIRED = "Password confirmation required."


async def run_route(
    request: web.Request, handler: Handler, policy: RoutePolicy | None, services: Services
) -> web.StreamResponse:
    if policy is None:  # unmatched requests (404/405), docs and metrics: straight through
        return await handler(request)
    verified: VerifiedToken | None = None
    if policy.authenticated:
        verified = await services.tokens.authenticate(bearer_token(request.headers.get("Authorization")))
        if verified is None:
            raise Unauthenticated
        request[AUTH] = verified
    if policy.throttle is None:
        _authorize(verified, policy, services)
        if policy.password_confirmed and await _unconfirmed(verified, services):
            return _password_confirmation_required()
        return await handler(request)
    attempt = await _throttle(request, verified, policy, services)
    try:
        _authorize(verified, policy, services)  # route middleware after the throttle, as in Laravel
        # One attribute test on every other route: the confirmation is read only where it is asked for.
        if policy.password_confirmed and await _unconfirmed(verified, services):
            response = _password_confirmation_required()
        else:
            response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        raise  # a chunked body found too large while read: ValidatePostSize's 413, which Laravel sends unthrottled
    except Exception as error:
        response = render_exception(request, error)
    # ThrottleRequests::getHeaders leaves a response alone when an inner limiter (the login throttle)
    # already reported as few or fewer remaining attempts.
    headers = response.headers
    remaining = attempt.remaining
    inner = headers.get("X-RateLimit-Remaining")
    if inner is None or _php_int(inner) > remaining:
        headers["X-RateLimit-Limit"] = str(attempt.max_attempts)
        headers["X-RateLimit-Remaining"] = str(remaining)
    return response


async def _unconfirmed(verified: VerifiedToken | None, services: Services) -> bool:
    """Laravel's `password.confirm`: this token has not confirmed its password within PASSWORD_TIMEOUT."""
    return verified is not None and await services.password_confirmation.required(verified.token_id)


def _password_confirmation_required() -> web.Response:
    """RequirePassword's JSON answer: response()->json([...], 423), compact."""
    return json_response({"message": PASSWORD_CONFIRMATION_REQUIRED}, status=423)


def _authorize(verified: VerifiedToken | None, policy: RoutePolicy, services: Services) -> None:
    if verified is None:
        return
    granted = verified.abilities
    if policy.abilities and "*" not in granted and not all(a in granted for a in policy.abilities):
        raise Forbidden("Invalid ability provided.")
    if policy.roles and verified.user.role not in policy.roles:
        raise Forbidden("This action is unauthorized.")
    settings = services.settings
    if settings.require_verified_email and not policy.allow_unverified and verified.user.email_verified_at is None:
        raise Conflict("Your email address is not verified.")


def _php_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


async def _throttle(
    request: web.Request, verified: VerifiedToken | None, policy: RoutePolicy, services: Services
) -> Attempt:
    """The named limiter's budget for this user, or for this address when nobody signed in."""
    settings = services.settings
    who = (
        f"user:{verified.user.id}"
        if verified is not None
        else f"ip:{client_ip(request, tuple(settings.trusted_proxies))}"
    )
    limit = policy.throttle_per_minute or settings.api_rate_limit
    limiter = services.limiter
    if type(limiter) is MemoryRateLimiter:  # one process, no Redis: no await needed on every request
        attempt = limiter.attempt_now(f"{policy.throttle}:{who}", limit, API_DECAY_SECONDS)
    else:
        attempt = await limiter.attempt(f"{policy.throttle}:{who}", limit, API_DECAY_SECONDS)
    if not attempt.allowed:
        raise TooManyAttempts(attempt.max_attempts, attempt.retry_after)
    return attempt
