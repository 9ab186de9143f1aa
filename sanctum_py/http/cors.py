"""CORS as Laravel 8's stock HandleCors (fruitcake/laravel-cors, config/cors.php) for `api/*`."""

from __future__ import annotations

from aiohttp import web

from sanctum_py.http.keys import SERVICES, Handler


def _add_vary(response: web.StreamResponse, header: str) -> None:
    existing = [part.strip() for part in response.headers.get("Vary", "").split(",") if part.strip()]
    if header not in existing:
        existing.append(header)
        response.headers["Vary"] = ", ".join(existing)


def _allowed_origin(request: web.Request, configured: str) -> str | None:
    origins = [origin.strip() for origin in configured.split(",") if origin.strip()]
    if "*" in origins:
        return "*"
    origin = request.headers.get("Origin")
    return origin if origin in origins else None


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    configured = request.app[SERVICES].settings.cors_allowed_origins
    allowed = _allowed_origin(request, configured)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        preflight = web.Response(status=204)
        if allowed is not None:
            preflight.headers["Access-Control-Allow-Origin"] = allowed
            preflight.headers["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"].upper()
            _add_vary(preflight, "Access-Control-Request-Method")
            preflight.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", ""
            )
            _add_vary(preflight, "Access-Control-Request-Headers")
            preflight.headers["Access-Control-Max-Age"] = "0"
        if allowed not in (None, "*"):
            _add_vary(preflight, "Origin")
        _add_vary(preflight, "Access-Control-Request-Method")
        return preflight
    response = await handler(request)
    if request.method == "OPTIONS":
        _add_vary(response, "Access-Control-Request-Method")
    if allowed is not None and "Access-Control-Allow-Origin" not in response.headers:
        response.headers["Access-Control-Allow-Origin"] = allowed
        if allowed != "*":
            _add_vary(response, "Origin")
    return response
