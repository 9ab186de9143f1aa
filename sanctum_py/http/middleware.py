"""The one aiohttp middleware: every request passes CORS, the body-size check, the route pipeline
(guard, throttle, handler) and error rendering, in Laravel's order.

The stages live in their own modules (cors, errors, pipeline); they are composed here as plain calls
rather than as three aiohttp middlewares, which cost a wrapper and a coroutine each on every request.
With METRICS=on, `metered_middleware` wraps it with a clock and one observation; with metrics off that
wrapper does not exist, so the request path pays nothing for metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from sanctum_py.http.cors import add_cors_headers, is_api_path, preflight_response
from sanctum_py.http.errors import render_exception
from sanctum_py.http.keys import SERVICES, Handler
from sanctum_py.http.pipeline import run_route
from sanctum_py.http.responses import error_response
from sanctum_py.observability.metrics import Metrics
from sanctum_py.observability.request_context import CURRENT_REQUEST

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


@web.middleware
async def service_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Log records made while serving (and by tasks started meanwhile) carry this request's id.
    context = CURRENT_REQUEST.set(request)
    try:
        settings = request.app[SERVICES].settings
        api = is_api_path(request.path)
        if api:
            preflight = preflight_response(request, settings.cors_allowed_origins)
            if preflight is not None:
                return preflight
        response: web.StreamResponse
        # Laravel's ValidatePostSize runs before routing: any path, any method.
        if (request.content_length or 0) > settings.max_body_bytes:
            response = error_response("", 413)
        else:
            try:
                response = await run_route(request, handler)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                response = render_exception(request, error)
        if api:
            add_cors_headers(request, response, settings.cors_allowed_origins)
        return response
    finally:
        CURRENT_REQUEST.reset(context)


def metered_middleware(metrics: Metrics) -> Middleware:
    """service_middleware, timed and counted (a cancelled request, whose client left, is not counted)."""
    observe = metrics.observe_request
    clock = time.perf_counter

    @web.middleware
    async def metered(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = clock()
        response = await service_middleware(request, handler)
        observe(request, response.status, clock() - started)
        return response

    return metered
