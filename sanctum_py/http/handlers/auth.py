"""Seed 004's four routes: register, login, logout, me. Thin: validate, call a service, render."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.accounts import IdentifierTaken, Registration
from sanctum_py.core.login import AccountInactive, Challenge, InvalidCredentials, LoginAttempt, LoginThrottled
from sanctum_py.http import phpjson
from sanctum_py.http.client_ip import client_ip
from sanctum_py.http.input import read_input
from sanctum_py.http.keys import SERVICES, current
from sanctum_py.http.responses import JSON, TooManyAttempts, json_response
from sanctum_py.http.serializers import registered_user, session_body, stored_user
from sanctum_py.http.validation import (
    BCRYPT_BYTES,
    BOOLEAN,
    CONFIRMED,
    EMAIL,
    NULLABLE,
    REQUIRED,
    STRING,
    STRING_LIST,
    Max,
    Min,
    Rules,
    Unique,
    ValidationFailed,
    validate_input,
)

TOKEN_HEADERS = {"Cache-Control": "no-store"}


class RegisterInput(BaseModel):
    name: Annotated[str, Rules(REQUIRED, STRING, Max(255))]
    surname: Annotated[str | None, Rules(NULLABLE, STRING, Max(255))] = None
    username: Annotated[str, Rules(REQUIRED, STRING, Max(255), Unique("username"))]
    email: Annotated[str, Rules(REQUIRED, STRING, EMAIL, Max(255), Unique("email"))]
    password: Annotated[str, Rules(REQUIRED, STRING, Min(8), CONFIRMED, BCRYPT_BYTES)]


class LoginInput(BaseModel):
    login: Annotated[str, Rules(REQUIRED, STRING)]
    password: Annotated[str, Rules(REQUIRED, STRING)]
    # Beyond seed 004 (absent, the body is exactly Laravel's): seed 003's remember-me, and the
    # device name and abilities Sanctum's createToken takes.
    remember_me: Annotated[bool | int | str | None, Rules(NULLABLE, BOOLEAN)] = None
    rememberMe: Annotated[bool | int | str | None, Rules(NULLABLE, BOOLEAN)] = None
    device_name: Annotated[str | None, Rules(NULLABLE, STRING, Max(255))] = None
    abilities: Annotated[list[str] | None, Rules(NULLABLE, STRING_LIST)] = None

    @property
    def remember(self) -> bool:
        return any(flag in (True, 1, "1") for flag in (self.remember_me, self.rememberMe))


async def register(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(RegisterInput, await read_input(request), services.accounts.is_taken)
    try:
        user = await services.accounts.register(
            Registration(data.name, data.surname, data.username, data.email, data.password)
        )
    except IdentifierTaken as taken:
        raise ValidationFailed({c: [Unique.taken_message(c)] for c in taken.columns}) from None
    if services.refresh is not None:  # refresh tokens on: an expiring access token plus its refresh token
        session = await services.sessions.start(user, name=services.settings.token_name, abilities=None, remember=False)
        return json_response(session_body(session, registered_user(user)), status=201, headers=TOKEN_HEADERS)
    token = await services.tokens.issue(user, services.settings.token_name)
    body = {"data": registered_user(user), "access_token": token.plain_text, "token_type": "Bearer"}
    return json_response(body, status=201, headers=TOKEN_HEADERS)


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(LoginInput, await read_input(request))
    attempt = LoginAttempt(
        login=data.login,
        password=data.password,
        ip=client_ip(request, tuple(services.settings.trusted_proxies)),
        remember=data.remember,
        device_name=data.device_name,
        abilities=data.abilities,
    )
    try:
        outcome = await services.login.login(attempt)
    except InvalidCredentials:
        raise ValidationFailed({"login": ["Invalid credentials."]}) from None
    except AccountInactive:
        raise ValidationFailed({"login": ["This account has been deactivated."]}) from None
    except LoginThrottled as throttled:
        raise TooManyAttempts(throttled.max_attempts, throttled.retry_after) from None
    if isinstance(outcome, Challenge):
        return json_response({"two_factor": True, "challenge_token": outcome.challenge_token}, headers=TOKEN_HEADERS)
    return json_response(session_body(outcome, stored_user(outcome.user)), headers=TOKEN_HEADERS)


async def logout(request: web.Request) -> web.Response:
    services, verified = request.app[SERVICES], current(request)
    await services.tokens.revoke(verified.token_id)
    if services.refresh is not None:  # the session ends: its refresh token must not mint another
        await services.refresh.revoke_for_access_token(verified.user.id, verified.token_id)
    return json_response({"message": "Logged out successfully"})


async def me(request: web.Request) -> web.Response:
    verified = current(request)
    body = verified.memo.get("me")
    if body is None:
        body = verified.memo["me"] = phpjson.encode(stored_user(verified.user))
    return web.Response(body=body, content_type=JSON)
