"""CORS as Laravel 8's stock HandleCors (fruitcake/laravel-cors, config/cors.php) for `api/*`."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from aiohttp import web


def _add_vary(response: web.StreamResponse, header: str) -> None:
    existing = [part.strip() for part in response.headers.get("Vary", "").split(",") if part.strip()]
    if header not in existing:
        existing.append(header)
        response.headers["Vary"] = ", ".join(existing)


@lru_cache(maxsize=8)
def _origins(configured: str) -> tuple[str, ...]:
    """CORS_ALLOWED_ORIGINS split once, not on every request."""
    return tuple(origin.strip() for origin in configured.split(",") if origin.strip())


def _set_allowed_origin(request: web.Request, response: web.StreamResponse, configured: str) -> bool:
    """stack-cors 2's configureAllowedOrigin; True when Access-Control-Allow-Origin was set."""
    origins = _origins(configured)
    if "*" in origins:  # the stock config: safe and cacheable, no Vary
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif len(origins) == 1:  # a single origin is sent whatever the request says
        response.headers["Access-Control-Allow-Origin"] = origins[0]
    else:
        origin = request.headers.get("Origin")
        if origin is not None and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
        _add_vary(response, "Origin")
    return "Access-Control-Allow-Origin" in response.headers


def is_api_path(path: str) -> bool:
    """config/cors.php `paths`: only the API gets CORS headers."""
    return path.startswith("/api/")


def preflight_response(request: web.Request, configured: str) -> web.Response | None:
    """The answer to a CORS preflight (OPTIONS + Access-Control-Request-Method), else None."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    preflight = web.Response(status=204)
    if _set_allowed_origin(request, preflight, configured):
        preflight.headers["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"].upper()
        _add_vary(preflight, "Access-Control-Request-Method")
        preflight.headers["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers", "")
        _add_vary(preflight, "Access-Control-Request-Headers")
        preflight.headers["Access-Control-Max-Age"] = "0"
    _add_vary(preflight, "Access-Control-Request-Method")
    return preflight


def add_cors_headers(request: web.Request, response: web.StreamResponse, configured: str) -> None:
    """What HandleCors adds to an actual (non-preflight) response."""
    if request.method == "OPTIONS":
        _add_vary(response, "Access-Control-Request-Method")
    if "Access-Control-Allow-Origin" not in response.headers:
        _set_allowed_origin(request, response, configured)


CorsHeaders = Callable[[web.Request, web.StreamResponse], None]


def cors_for(configured: str) -> CorsHeaders:
    """add_cors_headers for one configuration, worked out once. With `*` (the stock config) or a
    single origin the header does not depend on the request, so all but OPTIONS answers just set it."""
    origins = _origins(configured)
    if "*" not in origins and len(origins) != 1:
        return lambda request, response: add_cors_headers(request, response, configured)
    fixed = "*" if "*" in origins else origins[0]

    def add_fixed(request: web.Request, response: web.StreamResponse) -> None:
        if request.method == "OPTIONS":
            add_cors_headers(request, response, configured)
        elif "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = fixed

    return add_fixed
