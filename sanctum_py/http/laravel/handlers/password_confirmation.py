"""Fortify's password confirmation routes, under /api and Bearer-authenticated, per token.

`POST /api/user/confirm-password` is ConfirmablePasswordController::store with JSON answers: 201 `""`
(PasswordConfirmedResponse) or Laravel's 422 on `password` (FailedPasswordConfirmationResponse).
`GET /api/user/confirmed-password-status` is ConfirmedPasswordStatusController::show: `{"confirmed"}`,
`?seconds=` in place of PASSWORD_TIMEOUT, compared as PHP 8 compares `int < mixed`.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel.handlers.devices import php_password
from sanctum_py.http.laravel.input import read_input
from sanctum_py.http.laravel.responses import json_response
from sanctum_py.http.laravel.validation import ValidationFailed

PASSWORD_INCORRECT = "The provided password was incorrect."
# PHP 8's numeric strings: optional surrounding whitespace, a sign, digits with a point, an exponent.
PHP_NUMERIC = re.compile(r"[ \t\n\r\v\f]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\r\v\f]*")


async def confirm_password(request: web.Request) -> web.Response:
    data = await read_input(request)
    verified = current(request)
    # Fortify's ConfirmPassword takes `?string`: a number or a boolean is cast, nothing is required (a
    # missing password is simply incorrect), and an array, Laravel's TypeError, is incorrect here.
    password = php_password(data.get("password"))
    confirmed = await request.app[SERVICES].password_confirmation.confirm(verified.user.id, verified.token_id, password)
    if not confirmed:
        raise ValidationFailed({"password": [PASSWORD_INCORRECT]})
    return json_response("", status=201)


async def confirmed_password_status(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_input(request)
    elapsed = await services.password_confirmation.seconds_since(current(request).token_id)
    # $request->input('seconds', config('auth.password_timeout')): a present but null `seconds` is null.
    seconds = data.get("seconds", services.settings.password_timeout)
    return json_response({"confirmed": php_int_less_than(elapsed, seconds)})


def php_int_less_than(number: int, other: Any) -> bool:
    """PHP 8's `$number < $other` for what Laravel's input holds (null, bool, number, string, array)."""
    if other is None or isinstance(other, bool):
        return bool(number) < bool(other)
    if isinstance(other, (int, float)):
        return number < other
    if isinstance(other, str):
        if PHP_NUMERIC.fullmatch(other):
            return number < float(other)
        return str(number) < other  # a non-numeric string: both compared as strings
    return True  # an array is greater than any scalar
