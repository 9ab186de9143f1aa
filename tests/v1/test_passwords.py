"""POST /api/v1/auth/forgot-password and /reset-password, against a real SMTP server: the token travels the
way a user's does (mailed, read out of the message)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sanctum_py.db.models import PasswordResetToken
from tests.conftest import ClientFactory
from tests.mail.conftest import SmtpServer
from tests.support.contract import ContractClient, WireResponse
from tests.support.mailbox import body_of, delivered, smtp_settings
from tests.v1.helpers import (
    BAD_CREDENTIALS,
    BAD_REFRESH,
    BAD_RESET,
    INVALID_SESSION,
    NOT_AN_OBJECT,
    RESET_DONE,
    RESET_SENT,
    bad_characters,
    bad_email,
    expect,
    invalid,
    login,
    me,
    not_string,
    post,
    registered,
    required,
    signed_in,
    too_many_bytes,
    too_short,
)

EMAIL = "kullanici123@example.com"
NEW_PASSWORD = "brand-new-passw0rd"
RESET_TOKEN = re.compile(r"\b[0-9a-f]{64}\b")


async def forgot(client: ContractClient, email: Any) -> WireResponse:
    return await post(client, "forgot-password", {"email": email})


async def reset(client: ContractClient, token: Any, email: Any = EMAIL, **fields: Any) -> WireResponse:
    body = {"email": email, "token": token, "password": NEW_PASSWORD, **fields}
    return await post(client, "reset-password", {k: v for k, v in body.items() if v is not ...})


async def mailed_token(client: ContractClient, mail: SmtpServer, email: str = EMAIL) -> str:
    before = len(mail.received)
    expect(await forgot(client, email), 200, RESET_SENT)
    await delivered(client)
    [message] = mail.received[before:]
    assert message.rcpt_tos == [email]
    text = body_of(message)
    tokens = set(RESET_TOKEN.findall(text))
    assert len(tokens) == 1, text  # the token, in the link and on its own
    [token] = tokens
    assert "http" in text  # a link
    return token


@pytest.fixture
async def mailed(mail: SmtpServer, make_client: ClientFactory) -> ContractClient:
    client = await make_client(**smtp_settings(mail))
    await registered(client)
    await delivered(client)
    return client


async def test_forgot_and_reset_end_to_end(mail: SmtpServer, mailed: ContractClient) -> None:
    client = mailed
    session = await signed_in(client)
    token = await mailed_token(client, mail)
    assert await PasswordResetToken.filter(email=EMAIL).exists()  # Laravel's broker row (bcrypt, never the token)
    assert (await PasswordResetToken.get(email=EMAIL)).token != token

    expect(await reset(client, token), 200, RESET_DONE)
    # every session of the user ends
    expect(await me(client, session["token"]), 401, INVALID_SESSION)
    expect(await post(client, "refresh-token", {"refresh_token": session["refresh_token"]}), 401, BAD_REFRESH)
    expect(await login(client, "kullanici123"), 401, BAD_CREDENTIALS)
    assert (await login(client, "kullanici123", NEW_PASSWORD)).status == 200
    # the token worked once
    expect(await reset(client, token, password="yet-another-pass"), 400, BAD_RESET)


async def test_reset_takes_the_password_hash_alias(mail: SmtpServer, mailed: ContractClient) -> None:
    token = await mailed_token(mailed, mail)
    expect(await reset(mailed, token, password=..., password_hash="aliased-passw0rd"), 200, RESET_DONE)
    assert (await login(mailed, "kullanici123", "aliased-passw0rd")).status == 200


async def test_the_laravel_route_and_v1_share_the_broker_token(mail: SmtpServer, mailed: ContractClient) -> None:
    token = await mailed_token(mailed, mail)
    response = await mailed.post(
        "/api/reset-password",
        json={"token": token, "email": EMAIL, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
        headers={"Accept": "application/json"},
    )
    assert response.status == 200, response.text


async def test_unknown_addresses_get_the_same_200_and_no_mail(mail: SmtpServer, mailed: ContractClient) -> None:
    before = len(mail.received)
    known, unknown = await forgot(mailed, EMAIL), await forgot(mailed, "nobody@example.com")
    expect(unknown, 200, RESET_SENT)
    assert (known.status, known.body) == (unknown.status, unknown.body)
    await delivered(mailed)
    assert [message.rcpt_tos for message in mail.received[before:]] == [[EMAIL]]


async def test_inside_the_throttle_window_the_same_200_and_no_mail(mail: SmtpServer, mailed: ContractClient) -> None:
    first = await mailed_token(mailed, mail)
    before = len(mail.received)
    expect(await forgot(mailed, EMAIL), 200, RESET_SENT)
    expect(await forgot(mailed, EMAIL.upper()), 200, RESET_SENT)
    await delivered(mailed)
    assert len(mail.received) == before
    expect(await reset(mailed, first), 200, RESET_DONE)  # the first token still works


async def test_bad_tokens_and_unknown_emails_are_400(mail: SmtpServer, mailed: ContractClient) -> None:
    token = await mailed_token(mailed, mail)
    wrong = ("0" if token[0] != "0" else "1") + token[1:]
    expect(await reset(mailed, wrong), 400, BAD_RESET)
    expect(await reset(mailed, token, email="nobody@example.com"), 400, BAD_RESET)
    expect(await reset(mailed, "x" * 5000), 400, BAD_RESET)  # no length rule: just not the token
    expect(await reset(mailed, token), 200, RESET_DONE)  # none of them spent it


async def test_a_bad_password_never_spends_the_token(mail: SmtpServer, mailed: ContractClient) -> None:
    token = await mailed_token(mailed, mail)
    expect(await reset(mailed, token, password="short"), 422, invalid(too_short("password", 8)))
    expect(await reset(mailed, token, password="ş" * 37), 422, invalid(too_many_bytes("password")))
    expect(await reset(mailed, token), 200, RESET_DONE)


FORGOT_VALIDATION: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, invalid(required("email"))),
    ({"email": ""}, invalid(required("email"))),
    ({"email": 12}, invalid(not_string("email"))),
    ({"email": [EMAIL]}, invalid(not_string("email"))),
    ({"email": "not-an-email"}, invalid(bad_email())),
    ({"email": "kullanici\u0000@example.com"}, invalid(bad_characters("email"))),
]


@pytest.mark.parametrize(("body", "expected"), FORGOT_VALIDATION)
async def test_forgot_validation(client: ContractClient, body: dict[str, Any], expected: dict[str, Any]) -> None:
    expect(await post(client, "forgot-password", body), 422, expected)


# Rule order is the spec's table order: email, token, password.
RESET_VALIDATION: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, invalid(required("email"), required("token"), required("password"))),
    ({"email": EMAIL, "token": "t" * 64}, invalid(required("password"))),
    ({"email": EMAIL, "password": NEW_PASSWORD}, invalid(required("token"))),
    ({"token": "t" * 64, "password": NEW_PASSWORD}, invalid(required("email"))),
    ({"email": 1, "token": 2, "password": 3},
     invalid(not_string("email"), not_string("token"), not_string("password"))),
    ({"email": "nope", "token": "t" * 64, "password": NEW_PASSWORD}, invalid(bad_email())),
    ({"email": EMAIL, "token": "t" * 64, "password": "short"}, invalid(too_short("password", 8))),
    ({"email": EMAIL, "token": "t" * 64, "password_hash": "short"}, invalid(too_short("password_hash", 8))),
    ({"email": EMAIL, "token": "t\u0000t", "password": NEW_PASSWORD}, invalid(bad_characters("token"))),
    ({"email": EMAIL, "token": "t" * 64, "password": "new\u0000password"}, invalid(bad_characters("password"))),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), RESET_VALIDATION)
async def test_reset_validation(client: ContractClient, body: dict[str, Any], expected: dict[str, Any]) -> None:
    expect(await post(client, "reset-password", body), 422, expected)


@pytest.mark.parametrize("route", ["forgot-password", "reset-password"])
@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"'])
async def test_a_body_that_is_not_a_json_object_is_400(client: ContractClient, route: str, raw: bytes) -> None:
    response = await post(client, route, data=raw, headers={"Content-Type": "application/json"})
    expect(response, 400, NOT_AN_OBJECT)
