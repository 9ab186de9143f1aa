"""Fortify's two-factor routes, under /api and Bearer-authenticated, plus the token API's login challenge.

Bodies are Fortify's JSON answers: `""` (JsonResponse('')) for enable, confirm, disable and regenerate,
`{"svg","url"}` or `[]` for the QR code, `{"secretKey"}` or a 404 for the secret, the codes or `[]`.
Responses that carry a secret, a code or a token are sent with `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.login import AccountInactive, LoginThrottled
from sanctum_py.core.two_factor_auth import ChallengeFailed, InvalidCode
from sanctum_py.http.client_ip import client_ip
from sanctum_py.http.input import PHP_TRIM, read_input
from sanctum_py.http.keys import SERVICES, current
from sanctum_py.http.responses import NotFound, TooManyAttempts, json_response
from sanctum_py.http.serializers import session_body, stored_user
from sanctum_py.http.validation import NULLABLE, REQUIRED, STRING, Rules, ValidationFailed, validate_input

NO_STORE = {"Cache-Control": "no-store"}
INVALID_CODE = "The provided two factor authentication code was invalid."
INVALID_RECOVERY_CODE = "The provided two factor recovery code was invalid."
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
    try:
        await request.app[SERVICES].two_factor.confirm(current(request).user.id, data.get("code"))
    except InvalidCode:
        raise ValidationFailed({"code": [INVALID_CODE]}) from None
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
    try:
        services = request.app[SERVICES]
        session = await services.two_factor.complete_challenge(
            data.challenge_token,
            data.code,
            data.recovery_code,
            ip=client_ip(request, tuple(services.settings.trusted_proxies)),
        )
    except ChallengeFailed as failed:
        field, message = ("recovery_code", INVALID_RECOVERY_CODE) if failed.recovery else ("code", INVALID_CODE)
        raise ValidationFailed({field: [message]}) from None
    except AccountInactive:
        raise ValidationFailed({"login": ["This account has been deactivated."]}) from None
    except LoginThrottled as throttled:
        raise TooManyAttempts(throttled.max_attempts, throttled.retry_after) from None
    return json_response(session_body(session, stored_user(session.user)), headers=NO_STORE)
