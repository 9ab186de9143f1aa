"""POST /api/refresh: a refresh token for a new access + refresh pair (REFRESH_TOKENS=true).

With refresh tokens off the route answers Laravel's 404, as if it were not there. A missing or
non-string `refresh_token` is Laravel's 422 (`required|string`); a token that cannot be used (unknown,
malformed, expired, revoked, reused, or its user gone or deactivated) is 401: the client signs in again.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.http.kernel.headers import NO_STORE
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.laravel.input import read_input
from sanctum_py.http.laravel.responses import NotFound, json_response
from sanctum_py.http.laravel.serializers import session_body, stored_user
from sanctum_py.http.laravel.validation import REQUIRED, STRING, Rules, validate_input


class RefreshInput(BaseModel):
    refresh_token: Annotated[str, Rules(REQUIRED, STRING)]


async def refresh(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not services.settings.refresh_tokens:
        raise NotFound("")
    data = await validate_input(RefreshInput, await read_input(request))
    session = await services.auth.refresh(data.refresh_token)
    return json_response(session_body(session, stored_user(session.user)), headers=NO_STORE)
