"""The guard, then the rate limiter, then the route's own checks, around each route: Laravel's order.

auth:sanctum runs before throttle:api (Laravel's middleware priority), so failed authentications are
never counted and a signed-in user's budget is keyed by user id rather than by address. Responses
that passed the throttle carry X-RateLimit-Limit/Remaining, even when the handler failed (422, 500).
Route middleware follows the throttle: abilities (403), roles (403), verified email (409), then
`password.confirm` (423) last, so a token that lacks the ability is told so whether or not it
confirmed its password (confirming could not help it), and no confirmation is read for it.
Every refusal is a core AuthError, answered in the route's dialect.
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode, throttled
from sanctum_py.core.ratelimit import Attempt, MemoryRateLimiter, RedisRateLimiter
from sanctum_py.core.token_cache import VerifiedToken
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.keys import AUTH, Dialect, Handler, RoutePolicy
from sanctum_py.wiring import Services


async def run_route(
    request: web.Request, handler: Handler, policy: RoutePolicy | None, dialect: Dialect, services: Services
) -> web.StreamResponse:
    if policy is None:  # unmatched requests (404/405), docs and metrics: straight through
        return await handler(request)
    verified: VerifiedToken | None = None
    if policy.authenticated:
        # A cached token is answered without a coroutine: this is every busy client's request path.
        presented = bearer_token(request.headers.get("Authorization"))
        verified = services.tokens.cached(presented) or await _guard(presented, dialect, services)
        request[AUTH] = verified
    if policy.throttle is None:
        _authorize(verified, policy, services)
        await _confirmed(verified, policy, services)
        return await handler(request)
    attempt = _throttle_now(request, verified, policy, services) or await _throttle(request, verified, policy, services)
    try:
        _authorize(verified, policy, services)  # route middleware after the throttle, as in Laravel
        if policy.password_confirmed:  # one attribute test elsewhere: read only where it is asked for
            await _confirmed(verified, policy, services)
        response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        raise  # a chunked body found too large while read: ValidatePostSize's 413, which Laravel sends unthrottled
    except Exception as error:
        response = dialect.render(request, error)
    # ThrottleRequests::getHeaders leaves a response alone when an inner limiter (the login throttle)
    # already reported as few or fewer remaining attempts: only a 429 carries an inner limiter's headers.
    headers = response.headers
    remaining = attempt.remaining
    if response.status == 429:
        inner = headers.get("X-RateLimit-Remaining")
        if inner is not None and _php_int(inner) <= remaining:
            return response
    headers["X-RateLimit-Limit"] = str(attempt.max_attempts)
    headers["X-RateLimit-Remaining"] = str(remaining)
    return response


async def _guard(presented: str | None, dialect: Dialect, services: Services) -> VerifiedToken:
    """Sanctum's guard past the cache: the database decides, and a refusal is the dialect's 401."""
    verified = await services.tokens.verify(presented)
    if verified is not None:
        return verified
    if dialect.explains_expiry:
        raise AuthError(await services.tokens.refusal(presented))
    raise AuthError(ErrorCode.UNAUTHENTICATED)


def _authorize(verified: VerifiedToken | None, policy: RoutePolicy, services: Services) -> None:
    if verified is None:
        return
    granted = verified.abilities
    if policy.abilities and "*" not in granted and not all(a in granted for a in policy.abilities):
        raise AuthError(ErrorCode.MISSING_ABILITY)
    if policy.roles and verified.user.role not in policy.roles:
        raise AuthError(ErrorCode.ROLE_REQUIRED)
    settings = services.settings
    if settings.require_verified_email and not policy.allow_unverified and verified.user.email_verified_at is None:
        raise AuthError(ErrorCode.EMAIL_NOT_VERIFIED)


async def _confirmed(verified: VerifiedToken | None, policy: RoutePolicy, services: Services) -> None:
    """Laravel's `password.confirm`: this token confirmed its password within PASSWORD_TIMEOUT."""
    if (
        verified is not None
        and policy.password_confirmed
        and await services.password_confirmation.required(verified.token_id)
    ):
        raise AuthError(ErrorCode.PASSWORD_CONFIRMATION_REQUIRED)


def _php_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _throttle_key(request: web.Request, verified: VerifiedToken | None, policy: RoutePolicy, services: Services) -> str:
    """The named limiter's key: this user, or this address when nobody signed in."""
    if verified is not None:
        return f"{policy.throttle}:user:{verified.user.id}"
    return f"{policy.throttle}:ip:{client_ip(request, tuple(services.settings.trusted_proxies))}"


def _throttle_now(
    request: web.Request, verified: VerifiedToken | None, policy: RoutePolicy, services: Services
) -> Attempt | None:
    """The attempt when it needs no round trip (the in-process limiter, or a Redis lease this process
    holds), else None: ask `_throttle`."""
    limiter = services.limiter
    limit = policy.throttle_limit or services.settings.api_rate_limit
    if type(limiter) is MemoryRateLimiter:  # one process, no Redis
        attempt = limiter.attempt_now(
            _throttle_key(request, verified, policy, services), limit, policy.throttle_decay_seconds
        )
    elif type(limiter) is RedisRateLimiter:
        leased = limiter.attempt_leased(_throttle_key(request, verified, policy, services), limit)
        if leased is None:
            return None
        attempt = leased
    else:
        return None
    if not attempt.allowed:
        raise throttled(attempt.max_attempts, attempt.retry_after)
    return attempt


async def _throttle(
    request: web.Request, verified: VerifiedToken | None, policy: RoutePolicy, services: Services
) -> Attempt:
    """The named limiter's budget for this user, or for this address when nobody signed in."""
    limit = policy.throttle_limit or services.settings.api_rate_limit
    key = _throttle_key(request, verified, policy, services)
    attempt = await services.limiter.attempt(key, limit, policy.throttle_decay_seconds)
    if not attempt.allowed:
        raise throttled(attempt.max_attempts, attempt.retry_after)
    return attempt
