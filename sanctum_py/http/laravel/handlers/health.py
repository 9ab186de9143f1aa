"""Laravel 11's health route: a load balancer takes a worker whose database (or Redis) is down out."""

from __future__ import annotations

import asyncio

from aiohttp import web
from tortoise import connections

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.laravel.responses import json_response

CHECK_TIMEOUT_SECONDS = 2.0
# Needs the database and its users table, reads no row: a bare `SELECT 1` still answers on a MariaDB
# connection whose database was dropped under it.
DATABASE_PROBE = "SELECT 1 FROM users WHERE 1 = 0"


async def up(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await connections.get("default").execute_query(DATABASE_PROBE)
            if not await services.limiter.healthy():
                raise AuthError(ErrorCode.SERVICE_UNAVAILABLE)
    except TimeoutError:
        raise AuthError(ErrorCode.SERVICE_UNAVAILABLE) from None
    return json_response({"status": "up"})
