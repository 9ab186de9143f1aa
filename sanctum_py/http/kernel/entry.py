"""Every request's way in: CORS, Laravel's body-size check, the route pipeline, errors as JSON, and
the headers every response carries (nosniff, Server, and no-store on signed-in routes).

This is what an aiohttp middleware would do, done instead by wrapping each route's handler when the
route is registered (`entry`). The app then has no middleware at all, and aiohttp calls the wrapped
handler directly: with even one middleware it also adds its own (`_fix_request_current_app`) and
builds a chain per request, which measured about 6 µs of the ~75 µs of CPU an /api/me costs
(bench/README.md). Requests that match no route reach `unmatched`, registered last for every method
and path, so 404 and 405 get the same treatment (and Laravel's bodies) as everything else.

With METRICS=on each entry is also timed and counted; with metrics off that code does not exist.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.http.kernel.cors import CorsPolicy
from sanctum_py.http.kernel.headers import EVERY_RESPONSE_HEADERS, SIGNED_IN_HEADERS
from sanctum_py.http.kernel.keys import Dialect, Handler, RoutePolicy
from sanctum_py.http.kernel.pipeline import route_pipeline
from sanctum_py.observability.http_metrics import UNMATCHED as UNMATCHED_NAME
from sanctum_py.observability.metrics import Metrics
from sanctum_py.observability.request_context import CURRENT_REQUEST
from sanctum_py.wiring import Services

# [\s\S], not ".": a path may hold a newline (%0A), and "." would let it fall through to aiohttp's own
# text/plain 404/405 (with its version in Server) instead of the owning dialect's answer.
UNMATCHED_PATH = "/{unmatched:[\\s\\S]*}"


DialectChooser = Callable[[str], Dialect]


def entry(
    handler: Handler,
    policy: RoutePolicy | None,
    dialect: Dialect | DialectChooser,
    services: Services,
    metrics: Metrics | None,
) -> Handler:
    """`handler` as the app registers it: behind the pipeline `policy` describes (None: no guard and
    no throttle, for docs, /metrics and unmatched requests), its failures answered by `dialect` (or, for
    the catch-all route, by the dialect that owns the request's path), and timed when metrics are on."""
    settings = services.settings  # fixed for the app's life: read once here, not on every request
    cors = CorsPolicy.from_settings(settings)
    wants_cors = cors.path_matcher()
    add_cors_headers = cors.actual_headers()
    max_body_bytes = settings.max_body_bytes
    body_timeout = settings.body_timeout
    # Chosen once per route, so a request pays one small dict update (README: "Where we differ").
    added_headers = SIGNED_IN_HEADERS if policy is not None and policy.authenticated else EVERY_RESPONSE_HEADERS
    fixed_cors = cors.fixed_actual_headers()
    # With the stock CORS configuration, a CORS path's answer gets its CORS headers and ours in one update.
    cors_and_added = None if fixed_cors is None else {**fixed_cors, **added_headers}
    # Only the catch-all route (policy None) chooses its dialect per request; every other route's
    # pipeline is put together here, once.
    pipeline = route_pipeline(handler, policy, dialect, services) if isinstance(dialect, Dialect) else None
    routed = handler if pipeline is None else pipeline.run
    admit_now = None if pipeline is None else pipeline.admit_now
    label = None if pipeline is None else pipeline.label

    async def serve(request: web.Request) -> web.StreamResponse:
        # Log records made while serving (and by tasks started meanwhile) carry this request's id.
        context = CURRENT_REQUEST.set(request)
        try:
            cors_path = wants_cors(request)
            options = request.method == "OPTIONS"
            if cors_path and options:
                preflight = cors.preflight(request)
                if preflight is not None:
                    preflight.headers.update(EVERY_RESPONSE_HEADERS)
                    return preflight
            response: web.StreamResponse
            owner = dialect if isinstance(dialect, Dialect) else dialect(request.path)
            # Laravel's ValidatePostSize runs before routing: any path, any method.
            if (request.content_length or 0) > max_body_bytes:
                response = owner.render(request, AuthError(ErrorCode.PAYLOAD_TOO_LARGE))
                _close_unread(request, response)  # else the client may go on sending the body it declared
            else:
                try:
                    if request.body_exists and not request.content.is_eof():
                        response = await _within_body_deadline(request, routed, owner, body_timeout)
                    elif admit_now is not None and (attempt := admit_now(request)) is not None:
                        # No body to wait for, the token cached, the throttle answered in memory: the
                        # route's pipeline inline here (every busy GET, /api/me), saving a coroutine.
                        try:
                            response = await handler(request)
                        except web.HTTPRequestEntityTooLarge:
                            raise
                        except Exception as error:
                            response = owner.render(request, error)
                        assert label is not None
                        label(response, attempt)
                    else:  # no body to wait for: no timer either
                        response = await routed(request)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    response = owner.render(request, error)
                    if response.status == 413:  # a chunked body over the limit: stop reading it
                        _close_unread(request, response)
            headers = response.headers
            if not cors_path:
                headers.update(added_headers)
            elif cors_and_added is not None and not options and "Access-Control-Allow-Origin" not in headers:
                headers.update(cors_and_added)
            else:
                add_cors_headers(request, response)
                headers.update(added_headers)
            return response
        finally:
            CURRENT_REQUEST.reset(context)

    return serve if metrics is None else _metered(serve, metrics)


async def _within_body_deadline(
    request: web.Request, routed: Handler, dialect: Dialect, seconds: float
) -> web.StreamResponse:
    """The route, given `seconds` from now for its body to arrive in full; if it has not by then, the
    route is cancelled (it is still waiting for the body, before any work) and the answer is 408,
    with the connection closed. aiohttp has no body-read timeout of its own: a client that declares
    a body and never sends it would otherwise hold the connection (and a handler) forever."""
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        if not request.content.is_eof():
            expired = True
            task.cancel()

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await routed(request)
    except asyncio.CancelledError:
        if not expired:
            raise
        task.uncancel()
        response = dialect.render(request, AuthError(ErrorCode.REQUEST_TIMEOUT))
        _close_unread(request, response)
        return response
    finally:
        timer.cancel()


def _close_unread(request: web.Request, response: web.StreamResponse) -> None:
    """Close the connection once `response` is sent, without reading the rest of the body first.

    `Connection: close` alone is not enough: aiohttp then still reads and discards what is left of
    the body for up to its lingering time (10 s), which a client that never sends it holds open.
    Its protocol has no public way to skip that, hence the attribute, set on these error paths only."""
    response.force_close()
    if request.protocol is not None:
        request.protocol._lingering_time = 0.0


def _metered(serve: Handler, metrics: Metrics) -> Handler:
    """`serve`, timed and counted (a cancelled request, whose client left, is not counted)."""
    observe = metrics.observe_request
    clock = time.perf_counter

    async def metered(request: web.Request) -> web.StreamResponse:
        started = clock()
        response = await serve(request)
        observe(request, response.status, clock() - started)
        return response

    return metered


async def unmatched(request: web.Request) -> web.StreamResponse:
    """No route takes this method and path: 405 with the methods that path does take, else 404.

    aiohttp would have worked this out itself, had this catch-all not matched first; the resources
    are asked again here, which costs something only on these error paths."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name == UNMATCHED_NAME:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound
