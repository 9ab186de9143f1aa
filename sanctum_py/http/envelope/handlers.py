"""The envelope routes (seed 003): read and validate the body, call one application service, render.

Every sign-in hands out a REFRESHABLE session (an ACCESS_TOKEN_MINUTES access token and a refresh
token), whatever REFRESH_TOKENS says for the Laravel wire: the seed's LoginResponse has both. Refreshing
does not rotate (AuthService.renew_access): the seed's client keeps the refresh token it got at login.
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.accounts import ROLES, Registration
from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.login import Challenge, LoginAttempt, SessionKind
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.envelope.serializers import signed_in, user_json
from sanctum_py.http.envelope.validation import Field, validate
from sanctum_py.http.envelope.wire import success
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.headers import NO_STORE
from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel.input import read_input

LOGGED_IN = "Giriş başarılı"
REGISTERED = "Kayıt başarıyla oluşturuldu"
REFRESHED = "Token yenilendi"
RESET_REQUESTED = "Şifre sıfırlama bağlantısı e-posta adresinize gönderildi"
RESET_DONE = "Şifreniz başarıyla güncellendi"
ME = "Kullanıcı bilgileri getirildi"

TENANT = Field("tenantId", uuid=True)
PASSWORD_RULES = {"min": 8, "max_bytes": 72}  # bcrypt reads 72 bytes
LOGIN = (
    TENANT,
    Field("username", required=True, max=255),
    Field("password", required=True, max_bytes=1024),
    Field("rememberMe", boolean=True),
)
# The Laravel users table: username and email varchar(255), name NOT NULL varchar(255).
REGISTER = (
    TENANT,
    Field("username", required=True, max=255),
    Field("email", required=True, email=True, max=255),
    Field("password", required=True, min=8, max_bytes=72),
    Field("role", one_of=ROLES),
    Field("firstName", max=255),
    Field("lastName", max=255),
)
REFRESH = (Field("refreshToken", required=True, max=1024),)
RESET_REQUEST = (Field("email", required=True, email=True, max=255),)
RESET_CONFIRM = (Field("token", required=True, max=1024), Field("newPassword", required=True, min=8, max_bytes=72))


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), LOGIN)
    attempt = LoginAttempt(
        login=data["username"],
        password=data["password"],
        ip=client_ip(request, tuple(services.settings.trusted_proxies)),
        remember=data["rememberMe"] is True,  # the refresh token's lifetime: REMEMBER_ME_MINUTES
        session=SessionKind.REFRESHABLE,
        tenant_id=data["tenantId"],
    )
    outcome = await services.auth.login(attempt)
    if isinstance(outcome, Challenge):
        # The seed has no second step; its pending challenge simply expires.
        raise AuthError(ErrorCode.TWO_FACTOR_REQUIRED)
    return success(LOGGED_IN, signed_in(outcome), headers=NO_STORE)


async def register(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), REGISTER)
    role = data["role"] or "user"
    registration = Registration(
        data["firstName"] or "",
        data["lastName"],
        data["username"],
        data["email"],
        data["password"],
        tenant_id=data["tenantId"],
    )
    registered = await services.auth.register(
        registration,
        role=role,
        session=SessionKind.REFRESHABLE,
        check_taken=True,
        granted_by=bearer_token(request.headers.get("Authorization")),
    )
    assert registered.session is not None  # a session kind was asked for
    return success(REGISTERED, signed_in(registered.session), status=201, headers=NO_STORE)


async def refresh(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), REFRESH)
    session = await services.auth.renew_access(data["refreshToken"])
    return success(REFRESHED, {"token": session.access_token}, headers=NO_STORE)


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].auth.logout(current(request))
    return web.Response(status=204)


async def request_reset(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), RESET_REQUEST)
    await services.auth.request_self_identifying_reset(data["email"])
    return success(RESET_REQUESTED, None)


async def confirm_reset(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), RESET_CONFIRM)
    await services.auth.reset_password_by_token(data["token"], data["newPassword"])
    return success(RESET_DONE, None)


async def me(request: web.Request) -> web.Response:
    return success(ME, {"user": user_json(current(request).user)})
