"""The one aiohttp middleware: every request passes CORS, the body-size check, the route pipeline
(guard, throttle, handler) and error rendering, in Laravel's order.

The stages live in their own modules (cors, errors, pipeline); they are composed here as plain calls
rather than as three aiohttp middlewares, which cost a wrapper and a coroutine each on every request.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from sanctum_py.http.cors import add_cors_headers, is_api_path, preflight_response
from sanctum_py.http.errors import render_exception
from sanctum_py.http.keys import SERVICES, Handler
from sanctum_py.http.pipeline import run_route
from sanctum_py.http.responses import error_response


@web.middleware
async def service_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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
