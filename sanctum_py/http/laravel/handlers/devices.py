"""Tokens as devices: Sanctum's mobile idiom (`POST /sanctum/token`), and a user's view of their tokens."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.login import Challenge, LoginAttempt
from sanctum_py.db.models import PersonalAccessToken
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel.handlers.auth import login_session
from sanctum_py.http.laravel.input import path_id, read_input
from sanctum_py.http.laravel.responses import NotFound, json_response
from sanctum_py.http.laravel.serializers import laravel_timestamp
from sanctum_py.http.laravel.validation import (
    BOOLEAN,
    EMAIL,
    NULLABLE,
    REQUIRED,
    STRING,
    Max,
    Rules,
    ValidationFailed,
    php_string,
    validate_input,
)

CREDENTIALS_INCORRECT = "The provided credentials are incorrect."


class DeviceTokenInput(BaseModel):
    email: Annotated[str, Rules(REQUIRED, EMAIL)]
    password: Annotated[Any, Rules(REQUIRED)]  # the Laravel docs' rules: `required` only, any JSON type
    device_name: Annotated[str, Rules(REQUIRED, STRING, Max(255))]


def php_password(value: Any) -> str | None:
    """The string Hash::check() compares, under PHP's weak typing: a number or a boolean is cast
    ((string) 12345678 is "12345678", true is "1", false is ""). An array makes password_verify()
    throw a TypeError, Laravel's 500; here it matches no password: None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (int, float)):
        return php_string(value)
    return None


class LogoutAllInput(BaseModel):
    except_current: Annotated[bool | int | str | None, Rules(NULLABLE, BOOLEAN)] = None


async def device_token(request: web.Request) -> web.Response:
    """The Laravel docs' mobile login: the bare plain-text token, or 422 on `email`."""
    services = request.app[SERVICES]
    data = await validate_input(DeviceTokenInput, await read_input(request))
    password = php_password(data.password)
    if password is None:  # nothing to check: no account can match, so no attempt is counted either
        raise ValidationFailed({"email": [CREDENTIALS_INCORRECT]})
    attempt = LoginAttempt(
        login=data.email,
        password=password,
        ip=client_ip(request, tuple(services.settings.trusted_proxies)),
        device_name=data.device_name,
        session=login_session(services),
    )
    try:
        outcome = await services.auth.login(attempt)
    except AuthError as error:
        if error.code in (ErrorCode.INVALID_CREDENTIALS, ErrorCode.ACCOUNT_INACTIVE):
            raise ValidationFailed({"email": [CREDENTIALS_INCORRECT]}) from None
        raise
    if isinstance(outcome, Challenge):  # a bare token must not bypass the second factor
        raise ValidationFailed({"email": ["Two-factor authentication is required: sign in through /api/login."]})
    return web.Response(
        text=outcome.access_token, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


def _token_view(token: PersonalAccessToken, current_id: int) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "abilities": token.ability_list(),
        "last_used_at": laravel_timestamp(token.last_used_at),
        "created_at": laravel_timestamp(token.created_at),
        "expires_at": laravel_timestamp(token.expires_at),
        "current": token.id == current_id,
    }


async def list_tokens(request: web.Request) -> web.Response:
    verified = current(request)
    tokens = await request.app[SERVICES].tokens.list_for(verified.user.id)
    return json_response({"data": [_token_view(token, verified.token_id) for token in tokens]})


async def revoke_token(request: web.Request) -> web.Response:
    verified = current(request)
    raw_id = request.match_info["id"]
    token_id = path_id(raw_id)
    # What findOrFail on $user->tokens() answers for a missing or foreign token.
    missing = NotFound(f"No query results for model [Laravel\\Sanctum\\PersonalAccessToken] {raw_id}")
    if token_id is None:
        raise missing
    try:
        await request.app[SERVICES].auth.revoke_token(verified.user.id, token_id)
    except AuthError as error:
        raise missing if error.code is ErrorCode.NOT_FOUND else error from None
    return json_response({"message": "Token revoked."})


async def logout_all(request: web.Request) -> web.Response:
    verified = current(request)
    data = await validate_input(LogoutAllInput, await read_input(request))
    await request.app[SERVICES].auth.logout_all(verified, except_current=data.except_current in (True, 1, "1"))
    return json_response({"message": "Logged out from all devices."})
