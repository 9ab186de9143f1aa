"""Fortify's two-factor routes, under /api and Bearer-authenticated, plus the token API's login challenge.

Bodies are Fortify's JSON answers: `""` (JsonResponse('')) for enable, confirm, disable and regenerate,
`{"svg","url"}` or `[]` for the QR code, `{"secretKey"}` or a 404 for the secret, the codes or `[]`.
Responses that carry a secret, a code or a token are sent with `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.headers import NO_STORE
from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel.handlers.auth import login_session
from sanctum_py.http.laravel.input import PHP_TRIM, read_input
from sanctum_py.http.laravel.responses import NotFound, json_response
from sanctum_py.http.laravel.serializers import session_body, stored_user
from sanctum_py.http.laravel.validation import NULLABLE, REQUIRED, STRING, Rules, validate_input

NOT_ENABLED = "Two factor authentication has not been enabled."


class ChallengeInput(BaseModel):
    challenge_token: Annotated[str, Rules(REQUIRED, STRING)]
    code: Annotated[str | None, Rules(NULLABLE, STRING)] = None
    recovery_code: Annotated[str | None, Rules(NULLABLE, STRING)] = None


def php_boolean(value: Any) -> bool:
    """Laravel's `$request->boolean()`: filter_var(..., FILTER_VALIDATE_BOOLEAN)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    if isinstance(value, str):
        return value.strip(PHP_TRIM).lower() in ("1", "true", "on", "yes")
    return False


async def enable(request: web.Request) -> web.Response:
    data = await read_input(request)
    await request.app[SERVICES].two_factor.enable(current(request).user.id, force=php_boolean(data.get("force")))
    return json_response("")


async def confirm(request: web.Request) -> web.Response:
    data = await read_input(request)
    await request.app[SERVICES].two_factor.confirm(current(request).user.id, data.get("code"))
    return json_response("")


async def disable(request: web.Request) -> web.Response:
    await request.app[SERVICES].two_factor.disable(current(request).user.id)
    return json_response("")


async def qr_code(request: web.Request) -> web.Response:
    qr = await request.app[SERVICES].two_factor.qr_code(current(request).user.id)
    body: Any = {"svg": qr.svg, "url": qr.url} if qr is not None else []
    return json_response(body, headers=NO_STORE)


async def secret_key(request: web.Request) -> web.Response:
    secret = await request.app[SERVICES].two_factor.secret_key(current(request).user.id)
    if secret is None:
        raise NotFound(NOT_ENABLED)
    return json_response({"secretKey": secret}, headers=NO_STORE)


async def recovery_codes(request: web.Request) -> web.Response:
    codes = await request.app[SERVICES].two_factor.recovery_codes(current(request).user.id)
    return json_response(codes, headers=NO_STORE)


async def regenerate_recovery_codes(request: web.Request) -> web.Response:
    await request.app[SERVICES].two_factor.regenerate_recovery_codes(current(request).user.id)
    return json_response("")


async def challenge(request: web.Request) -> web.Response:
    """Fortify's POST /two-factor-challenge, with the login's challenge token in place of the session."""
    data = await validate_input(ChallengeInput, await read_input(request))
    services = request.app[SERVICES]
    session = await services.auth.complete_challenge(
        data.challenge_token,
        code=data.code,
        recovery_code=data.recovery_code,
        ip=client_ip(request, tuple(services.settings.trusted_proxies)),
        session=login_session(services),
    )
    return json_response(session_body(session, stored_user(session.user)), headers=NO_STORE)
