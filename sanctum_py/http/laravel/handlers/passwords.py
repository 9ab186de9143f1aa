"""Fortify's password reset routes with Laravel 8's messages: forgot-password and reset-password.

Without REVEAL_UNKNOWN_EMAILS (the default) an unknown email and a throttled request get exactly the
answer a sent link gets, so neither the body nor the status tells whether an account exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.laravel.input import read_input
from sanctum_py.http.laravel.responses import json_response
from sanctum_py.http.laravel.validation import (
    BCRYPT_BYTES,
    CONFIRMED,
    EMAIL,
    REQUIRED,
    STRING,
    Min,
    Rules,
    validate_input,
)

# laravel/laravel@8.x resources/lang/en/passwords.php (the failures' words: http/laravel/render.py)
RESET = "Your password has been reset!"
SENT = "We have emailed your password reset link!"


class ForgotPasswordInput(BaseModel):
    email: Annotated[str, Rules(REQUIRED, EMAIL)]


class ResetPasswordInput(BaseModel):
    token: Annotated[Any, Rules(REQUIRED)]
    email: Annotated[str, Rules(REQUIRED, EMAIL)]
    password: Annotated[str, Rules(REQUIRED, STRING, Min(8), CONFIRMED, BCRYPT_BYTES)]


async def forgot_password(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(ForgotPasswordInput, await read_input(request))
    await services.auth.request_password_reset(data.email)
    return json_response({"message": SENT})


async def reset_password(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(ResetPasswordInput, await read_input(request))
    token = data.token if isinstance(data.token, str) else None  # an array or a number never matches
    await services.auth.reset_password(data.email, token, data.password)
    return json_response({"message": RESET})
