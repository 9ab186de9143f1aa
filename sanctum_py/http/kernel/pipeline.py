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

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode, throttled
from sanctum_py.core.ratelimit import Attempt, MemoryRateLimiter, RedisRateLimiter
from sanctum_py.core.token_cache import VerifiedToken
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.keys import AUTH, Dialect, Handler, RoutePolicy
from sanctum_py.wiring import Services


@dataclass(frozen=True)
class RoutePipeline:
    """A route's handler behind what its policy asks for, put together once when the route is registered.

    `run` is the whole pipeline as a handler. `admit_now`, when not None, is its busiest case without a
    coroutine: the token answered from the cache and the throttle from memory (or a Redis lease), so the
    kernel can await the handler itself and then `label` the response. It returns None when that case
    does not apply (a cache miss, a throttle round trip): then the kernel awaits `run`. Everything a
    policy fixes (which checks run, the budget, key prefixes, the limit's header) is decided here rather
    than on every request. Measured together (README "Benchmarks"), 2–3% of an /api/me's CPU."""

    run: Handler
    admit_now: Callable[[web.Request], Attempt | None] | None = None
    label: Callable[[web.StreamResponse, Attempt], None] | None = None


def route_pipeline(handler: Handler, policy: RoutePolicy | None, dialect: Dialect, services: Services) -> RoutePipeline:
    if policy is None:  # unmatched requests (404/405), docs and metrics: straight through
        return RoutePipeline(handler)
    tokens = services.tokens
    authenticated = policy.authenticated
    authorize = _route_checks(policy, services)
    confirm = policy.password_confirmed

    async def signed_in(request: web.Request) -> VerifiedToken:
        presented = bearer_token(request.headers.get("Authorization"))
        verified = tokens.cached(presented) or await _guard(presented, dialect, services)
        request[AUTH] = verified
        return verified

    if policy.throttle is None:

        async def unthrottled(request: web.Request) -> web.StreamResponse:
            verified = await signed_in(request) if authenticated else None
            if authorize is not None and verified is not None:
                authorize(verified)
            if confirm:
                await _confirmed(verified, services)
            return await handler(request)

        return RoutePipeline(unthrottled)

    throttle_key = _throttle_key(policy, services)
    throttle_now = _throttle_now(policy, services, throttle_key)
    limit_header = str(policy.throttle_limit or services.settings.api_rate_limit)

    def label(response: web.StreamResponse, attempt: Attempt) -> None:
        # ThrottleRequests::getHeaders leaves a response alone when an inner limiter (the login throttle)
        # already reported as few or fewer remaining attempts: only a 429 carries an inner limiter's headers.
        headers = response.headers
        remaining = attempt.remaining
        if response.status == 429:
            inner = headers.get("X-RateLimit-Remaining")
            if inner is not None and _php_int(inner) <= remaining:
                return
        headers["X-RateLimit-Limit"] = limit_header
        headers["X-RateLimit-Remaining"] = str(remaining)

    async def throttled_route(request: web.Request) -> web.StreamResponse:
        verified = await signed_in(request) if authenticated else None
        attempt = throttle_now(request, verified) or await _throttle(request, verified, policy, services, throttle_key)
        try:
            if authorize is not None and verified is not None:  # route middleware after the throttle, as in Laravel
                authorize(verified)
            if confirm:
                await _confirmed(verified, services)
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge:
            raise  # a chunked body found too large while read: ValidatePostSize's 413, which Laravel sends unthrottled
        except Exception as error:
            response = dialect.render(request, error)
        label(response, attempt)
        return response

    if confirm or authorize is not None:
        # A confirmation is a read, and a route check's refusal must still be labelled with the
        # attempt it spent: these routes always take `run`.
        return RoutePipeline(throttled_route)

    def admit_now(request: web.Request) -> Attempt | None:
        verified = None
        if authenticated:
            verified = tokens.cached(bearer_token(request.headers.get("Authorization")))
            if verified is None:
                return None
            request[AUTH] = verified
        return throttle_now(request, verified)  # a refusal (429) raises, as it does in `run`

    return RoutePipeline(throttled_route, admit_now, label)


async def _guard(presented: str | None, dialect: Dialect, services: Services) -> VerifiedToken:
    """Sanctum's guard past the cache: the database decides, and a refusal is the dialect's 401."""
    verified = await services.tokens.verify(presented)
    if verified is not None:
        return verified
    if dialect.explains_expiry:
        raise AuthError(await services.tokens.refusal(presented))
    raise AuthError(ErrorCode.UNAUTHENTICATED)


def _route_checks(policy: RoutePolicy, services: Services) -> Callable[[VerifiedToken], None] | None:
    """The route's own middleware after the throttle (abilities, roles, verified email), or None when
    the route has none: most routes, /api/me among them, then skip the call altogether."""
    required = policy.abilities
    roles = policy.roles
    verified_email = services.settings.require_verified_email and not policy.allow_unverified
    if not (required or roles or verified_email):
        return None

    def check(verified: VerifiedToken) -> None:
        granted = verified.abilities
        if required and "*" not in granted and not all(a in granted for a in required):
            raise AuthError(ErrorCode.MISSING_ABILITY)
        if roles and verified.user.role not in roles:
            raise AuthError(ErrorCode.ROLE_REQUIRED)
        if verified_email and verified.user.email_verified_at is None:
            raise AuthError(ErrorCode.EMAIL_NOT_VERIFIED)

    return check


async def _confirmed(verified: VerifiedToken | None, services: Services) -> None:
    """Laravel's `password.confirm`: this token confirmed its password within PASSWORD_TIMEOUT."""
    if verified is not None and await services.password_confirmation.required(verified.token_id):
        raise AuthError(ErrorCode.PASSWORD_CONFIRMATION_REQUIRED)


def _php_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


ThrottleKey = Callable[[web.Request, VerifiedToken | None], str]
ThrottleNow = Callable[[web.Request, VerifiedToken | None], Attempt | None]


def _throttle_key(policy: RoutePolicy, services: Services) -> ThrottleKey:
    """The route's limiter key: this user, or this address when nobody signed in. The user's prefix is
    built once here: the signed-in case is every busy client's request."""
    user_prefix = f"{policy.throttle}:user:"
    address_prefix = f"{policy.throttle}:ip:"
    trusted_proxies = tuple(services.settings.trusted_proxies)

    def key(request: web.Request, verified: VerifiedToken | None) -> str:
        if verified is not None:
            return user_prefix + str(verified.user.id)
        return address_prefix + client_ip(request, trusted_proxies)

    return key


def _throttle_now(policy: RoutePolicy, services: Services, key: ThrottleKey) -> ThrottleNow:
    """The route's attempt when it needs no round trip (the in-process limiter, or a Redis lease this
    process holds), else None: ask `_throttle`."""
    limiter = services.limiter
    limit = policy.throttle_limit or services.settings.api_rate_limit
    decay = policy.throttle_decay_seconds

    if type(limiter) is MemoryRateLimiter:  # one process, no Redis
        in_memory = limiter

        def from_memory(request: web.Request, verified: VerifiedToken | None) -> Attempt | None:
            attempt = in_memory.attempt_now(key(request, verified), limit, decay)
            if not attempt.allowed:
                raise throttled(attempt.max_attempts, attempt.retry_after)
            return attempt

        return from_memory
    if type(limiter) is RedisRateLimiter:
        leasing = limiter

        def from_lease(request: web.Request, verified: VerifiedToken | None) -> Attempt | None:
            leased = leasing.attempt_leased(key(request, verified), limit)
            if leased is not None and not leased.allowed:
                raise throttled(leased.max_attempts, leased.retry_after)
            return leased

        return from_lease
    return lambda _request, _verified: None


async def _throttle(
    request: web.Request, verified: VerifiedToken | None, policy: RoutePolicy, services: Services, key: ThrottleKey
) -> Attempt:
    """The named limiter's budget for this user, or for this address when nobody signed in."""
    limit = policy.throttle_limit or services.settings.api_rate_limit
    attempt = await services.limiter.attempt(key(request, verified), limit, policy.throttle_decay_seconds)
    if not attempt.allowed:
        raise throttled(attempt.max_attempts, attempt.retry_after)
    return attempt
