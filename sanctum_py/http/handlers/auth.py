"""Seed 004's four routes: register, login, logout, me. Thin: validate, call a service, render."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.accounts import IdentifierTaken, Registration
from sanctum_py.http import phpjson
from sanctum_py.http.input import read_input
from sanctum_py.http.keys import SERVICES, current
from sanctum_py.http.responses import JSON, json_response
from sanctum_py.http.serializers import registered_user, stored_user
from sanctum_py.http.validation import (
    CONFIRMED,
    EMAIL,
    NULLABLE,
    REQUIRED,
    STRING,
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
    password: Annotated[str, Rules(REQUIRED, STRING, Min(8), CONFIRMED)]


class LoginInput(BaseModel):
    login: Annotated[str, Rules(REQUIRED, STRING)]
    password: Annotated[str, Rules(REQUIRED, STRING)]


async def register(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(RegisterInput, await read_input(request), services.accounts.is_taken)
    try:
        user = await services.accounts.register(
            Registration(data.name, data.surname, data.username, data.email, data.password)
        )
    except IdentifierTaken as taken:
        raise ValidationFailed({c: [Unique.taken_message(c)] for c in taken.columns}) from None
    token = await services.tokens.issue(user, services.settings.token_name)
    body = {"data": registered_user(user), "access_token": token.plain_text, "token_type": "Bearer"}
    return json_response(body, status=201, headers=TOKEN_HEADERS)


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(LoginInput, await read_input(request))
    user = await services.accounts.check_credentials(data.login, data.password)
    if user is None:
        raise ValidationFailed({"login": ["Invalid credentials."]})
    token = await services.tokens.issue(user, services.settings.token_name)
    body = {"data": stored_user(user), "access_token": token.plain_text, "token_type": "Bearer"}
    return json_response(body, headers=TOKEN_HEADERS)


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].tokens.revoke(current(request).token_id)
    return json_response({"message": "Logged out successfully"})


async def me(request: web.Request) -> web.Response:
    verified = current(request)
    body = verified.memo.get("me")
    if body is None:
        body = verified.memo["me"] = phpjson.encode(stored_user(verified.user))
    return web.Response(body=body, content_type=JSON)
