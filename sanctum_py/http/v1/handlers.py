"""The v1 routes (seeds 000/001): read and validate the body, call one application service, render.

Every access token v1 hands out expires (ACCESS_TOKEN_MINUTES) and comes with a refresh token, whatever
REFRESH_TOKENS says for the Laravel wire: seed 000's token rows have an `expiration_time`.
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.accounts import Registration
from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.login import Challenge, LoginAttempt, Session, SessionKind
from sanctum_py.core.tokens import bearer_token
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.headers import NO_STORE
from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel.input import read_input
from sanctum_py.http.v1.serializers import token_view, user_json
from sanctum_py.http.v1.validation import Field, validate
from sanctum_py.http.v1.wire import JSON, v1_response
from sanctum_py.wiring import Services

ME_MEMO = "v1:me"  # cached with the verified token, per dialect

# Seed 001's columns: username varchar(50), email/name/last_name varchar(100).
PASSWORD = Field("password", required=True, min=8, max_bytes=72, alias="password_hash")
REGISTER = (
    Field("role_id", integer=True),  # checked against the configured ids in register()
    Field("username", required=True, max=50),
    Field("email", required=True, email=True, max=100),
    PASSWORD,
    Field("name", max=100),
    Field("last_name", max=100),
)
LOGIN = (Field("username", required=True), Field("password", required=True))
TWO_FACTOR = (Field("challenge_token", required=True), Field("code"), Field("recovery_code"))
REFRESH = (Field("refresh_token", required=True),)
FORGOT = (Field("email", required=True, email=True),)
RESET = (Field("email", required=True, email=True), Field("token", required=True), PASSWORD)
VERIFY = (Field("token", required=True),)


async def register(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    role_ids = services.settings.v1_role_ids
    fields = (Field("role_id", integer=True, one_of=tuple(role_ids.values())), *REGISTER[1:])
    data = validate(await read_input(request, strict_json=True), fields)
    role = _role_of(data["role_id"], role_ids)
    registration = Registration(
        data["name"] or "", data["last_name"], data["username"], data["email"], data["password"]
    )
    registered = await services.auth.register(
        registration,
        role=role,
        session=None,
        check_taken=True,
        granted_by=bearer_token(request.headers.get("Authorization")),
    )
    services.verification.send_token(registered.user)
    return v1_response(user_json(registered.user, role_ids), headers=NO_STORE)


def _role_of(role_id: int | None, role_ids: dict[str, int]) -> str:
    if role_id is None:
        return "user"
    return next(role for role, number in role_ids.items() if number == role_id)


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), LOGIN)
    attempt = LoginAttempt(
        login=data["username"],
        password=data["password"],
        ip=_ip(request, services),
        session=SessionKind.REFRESHABLE,
    )
    outcome = await services.auth.login(attempt)
    if isinstance(outcome, Challenge):
        body = {"two_factor_required": True, "challenge_token": outcome.challenge_token}
        return v1_response(body, headers=NO_STORE)
    return _signed_in(outcome, services)


async def two_factor_auth(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), TWO_FACTOR)
    if data["code"] is None and data["recovery_code"] is None:
        validate({}, (Field("code", required=True),))  # one of the two is required: name the usual one
    session = await services.auth.complete_challenge(
        data["challenge_token"],
        code=data["code"],
        recovery_code=data["recovery_code"],
        ip=_ip(request, services),
        session=SessionKind.REFRESHABLE,
    )
    return _signed_in(session, services)


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].auth.logout(current(request))
    return v1_response({"message": "Oturum sonlandırıldı."})


async def refresh_token(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), REFRESH)
    return _signed_in(await services.auth.refresh(data["refresh_token"]), services)


async def forgot_password(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), FORGOT)
    try:
        await services.auth.request_password_reset(data["email"])
    except AuthError as error:
        # The seeds name no "unknown email" answer: v1 never tells, even with REVEAL_UNKNOWN_EMAILS.
        if error.code not in (ErrorCode.UNKNOWN_EMAIL, ErrorCode.RESET_THROTTLED):
            raise
    return v1_response({"message": "Şifre sıfırlama bağlantısı e-posta adresinize gönderildi."})


async def reset_password(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = validate(await read_input(request, strict_json=True), RESET)
    try:
        await services.auth.reset_password(data["email"], data["token"], data["password"])
    except AuthError as error:
        if error.code is ErrorCode.UNKNOWN_EMAIL:  # never told apart on this wire
            raise AuthError(ErrorCode.INVALID_RESET_TOKEN) from None
        raise
    return v1_response({"message": "Şifreniz başarıyla sıfırlandı."})


async def verify_email(request: web.Request) -> web.Response:
    """With `token`, verify it (a Bearer header is not looked at: a page opened from the mail may carry a
    stale one). Without, a Bearer caller has the mail sent again; anyone else is told `token` is required."""
    services = request.app[SERVICES]
    body = await read_input(request, strict_json=True)
    authorization = request.headers.get("Authorization")
    if body.get("token") is None and authorization is not None:
        verified = await services.auth.authenticate(bearer_token(authorization))
        if not services.verification.send_token(verified.user):
            return v1_response({"message": "E-posta adresiniz zaten doğrulanmış."})
        return v1_response({"message": "Doğrulama e-postası gönderildi."}, status=202)
    data = validate(body, VERIFY)
    await services.auth.verify_email_token(data["token"])
    return v1_response({"message": "E-posta adresiniz doğrulandı."})


async def me(request: web.Request) -> web.Response:
    verified = current(request)
    body = verified.memo.get(ME_MEMO)
    if body is None:
        role_ids = request.app[SERVICES].settings.v1_role_ids
        rendered = v1_response(user_json(verified.user, role_ids)).body
        assert isinstance(rendered, bytes)  # v1_response builds its body from bytes
        body = verified.memo[ME_MEMO] = rendered
    return web.Response(body=body, content_type=JSON, charset="utf-8")


def _signed_in(session: Session, services: Services) -> web.Response:
    return v1_response(token_view(session, services.settings.v1_role_ids), headers=NO_STORE)


def _ip(request: web.Request, services: Services) -> str:
    return client_ip(request, tuple(services.settings.trusted_proxies))
