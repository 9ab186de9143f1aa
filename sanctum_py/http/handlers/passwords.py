"""Fortify's password reset routes with Laravel 8's messages: forgot-password and reset-password.

Without REVEAL_UNKNOWN_EMAILS (the default) an unknown email and a throttled request get exactly the
answer a sent link gets, so neither the body nor the status tells whether an account exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.passwords import ResetStatus
from sanctum_py.http.input import read_input
from sanctum_py.http.keys import SERVICES
from sanctum_py.http.responses import json_response
from sanctum_py.http.validation import (
    BCRYPT_BYTES,
    CONFIRMED,
    EMAIL,
    REQUIRED,
    STRING,
    Min,
    Rules,
    ValidationFailed,
    validate_input,
)

# laravel/laravel@8.x resources/lang/en/passwords.php
MESSAGES = {
    ResetStatus.RESET: "Your password has been reset!",
    ResetStatus.SENT: "We have emailed your password reset link!",
    ResetStatus.THROTTLED: "Please wait before retrying.",
    ResetStatus.INVALID_TOKEN: "This password reset token is invalid.",
    ResetStatus.INVALID_USER: "We can't find a user with that email address.",
}


class ForgotPasswordInput(BaseModel):
    email: Annotated[str, Rules(REQUIRED, EMAIL)]


class ResetPasswordInput(BaseModel):
    token: Annotated[Any, Rules(REQUIRED)]
    email: Annotated[str, Rules(REQUIRED, EMAIL)]
    password: Annotated[str, Rules(REQUIRED, STRING, Min(8), CONFIRMED, BCRYPT_BYTES)]


def _failed(status: ResetStatus) -> ValidationFailed:
    """Fortify's Failed*Response: a ValidationException on the email field."""
    return ValidationFailed({"email": [MESSAGES[status]]})


async def forgot_password(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(ForgotPasswordInput, await read_input(request))
    status = await services.passwords.send_reset_link(data.email)
    if services.settings.reveal_unknown_emails and status is not ResetStatus.SENT:
        raise _failed(status)
    return json_response({"message": MESSAGES[ResetStatus.SENT]})


async def reset_password(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(ResetPasswordInput, await read_input(request))
    token = data.token if isinstance(data.token, str) else None  # an array or a number never matches
    status = await services.passwords.reset(data.email, token, data.password)
    if status is ResetStatus.INVALID_USER and not services.settings.reveal_unknown_emails:
        status = ResetStatus.INVALID_TOKEN
    if status is not ResetStatus.RESET:
        raise _failed(status)
    return json_response({"message": MESSAGES[ResetStatus.RESET]})
