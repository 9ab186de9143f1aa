"""Seed 004's four routes: register, login, logout, me. Thin: validate, call a service, render."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.accounts import Registration
from sanctum_py.core.login import Challenge, LoginAttempt, SessionKind
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.headers import NO_STORE
from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel import phpjson
from sanctum_py.http.laravel.input import read_input
from sanctum_py.http.laravel.responses import JSON, json_response
from sanctum_py.http.laravel.serializers import registered_user, session_body, stored_user
from sanctum_py.http.laravel.validation import (
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
    validate_input,
)
from sanctum_py.wiring import Services

ME_MEMO = "laravel:me"  # cached with the verified token, per dialect


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


def registration_session(services: Services) -> SessionKind:
    """Laravel's register answers a never-expiring Sanctum token, or with REFRESH_TOKENS an access token
    and its refresh token; login the same, with TOKEN_MINUTES applying to the plain token."""
    return SessionKind.REFRESHABLE if services.settings.refresh_tokens else SessionKind.PLAIN


def login_session(services: Services) -> SessionKind:
    return SessionKind.REFRESHABLE if services.settings.refresh_tokens else SessionKind.SANCTUM


async def register(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await validate_input(RegisterInput, await read_input(request), services.accounts.is_taken)
    registration = Registration(data.name, data.surname, data.username, data.email, data.password)
    registered = await services.auth.register(registration, session=registration_session(services))
    session, user = registered.session, registered.user
    assert session is not None  # asked for one
    if session.refresh_token is not None:
        return json_response(session_body(session, registered_user(user)), status=201, headers=NO_STORE)
    body = {"data": registered_user(user), "access_token": session.access_token, "token_type": "Bearer"}
    return json_response(body, status=201, headers=NO_STORE)


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
        session=login_session(services),
    )
    outcome = await services.auth.login(attempt)
    if isinstance(outcome, Challenge):
        return json_response({"two_factor": True, "challenge_token": outcome.challenge_token}, headers=NO_STORE)
    return json_response(session_body(outcome, stored_user(outcome.user)), headers=NO_STORE)


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].auth.logout(current(request))
    return json_response({"message": "Logged out successfully"})


async def me(request: web.Request) -> web.Response:
    verified = current(request)
    body = verified.memo.get(ME_MEMO)
    if body is None:
        body = verified.memo[ME_MEMO] = phpjson.encode(stored_user(verified.user))
    return web.Response(body=body, content_type=JSON)
