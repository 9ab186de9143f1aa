"""Password reset through the API, against a real SMTP server and every database backend.

The token travels the way a user's does: mailed by the service, read out of the received message.
Rows are also written by hand the way Laravel's DatabaseTokenRepository writes them, to show a token
issued by a Laravel app sharing the database works here (and that ours have Laravel's format).
"""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from tortoise import connections

from sanctum_py.core.reset_tokens import hash_token, new_token, token_matches
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PasswordResetToken, User
from sanctum_py.settings import decode_app_key
from tests.conftest import TEST_APP_KEY, ClientFactory
from tests.mail.conftest import SmtpServer
from tests.support.api import JSON_HEADERS, bearer, login, register
from tests.support.contract import ContractClient, WireResponse
from tests.support.logs import production_text
from tests.support.mailbox import body_of, delivered, link_in, smtp_server, smtp_settings
from tests.support.servers import free_port

EMAIL = "ahmet@example.com"
SENT = b'{"message":"We have emailed your password reset link!"}'
RESET = b'{"message":"Your password has been reset!"}'
INVALID = {"message": "The given data was invalid.", "errors": {"email": ["This password reset token is invalid."]}}
UNKNOWN = {
    "message": "The given data was invalid.",
    "errors": {"email": ["We can't find a user with that email address."]},
}
THROTTLED = {"message": "The given data was invalid.", "errors": {"email": ["Please wait before retrying."]}}
NEW_PASSWORD = "brand-new-passw0rd"


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    """Name it before `make_client`: the server must outlive the app, which delivers pending mail as it stops."""
    with smtp_server() as server:
        yield server


async def forgot(client: ContractClient, email: Any) -> WireResponse:
    return await client.post("/api/forgot-password", json={"email": email}, headers=JSON_HEADERS)


async def reset(client: ContractClient, token: Any, email: Any = EMAIL, password: str = NEW_PASSWORD) -> WireResponse:
    body = {"token": token, "email": email, "password": password, "password_confirmation": password}
    return await client.post("/api/reset-password", json=body, headers=JSON_HEADERS)


def token_of(link: str) -> tuple[str, str]:
    """(token, email) out of the default PASSWORD_RESET_URL, `{app_url}/reset-password/{token}?email={email}`."""
    parts = urlsplit(link)
    match = re.fullmatch(r"/reset-password/([0-9a-f]{64})", parts.path)
    assert match, link
    assert parts.query.startswith("email=")
    return match.group(1), unquote(parts.query[len("email=") :])


async def mailed_token(client: ContractClient, mail: SmtpServer, email: str = EMAIL) -> str:
    assert (await forgot(client, email)).body == SENT
    await delivered(client)
    token, linked_email = token_of(link_in(mail.received[-1]))
    assert linked_email == email
    return token


# --- the whole flow ---------------------------------------------------------------------------------


async def test_forgot_and_reset_end_to_end(
    mail: SmtpServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sanctum_py")
    client = await make_client(**smtp_settings(mail))
    old_token = (await register(client)).json()["access_token"]
    second_device = (await login(client, EMAIL, "password123")).json()["access_token"]

    response = await forgot(client, EMAIL)
    assert (response.status, response.body) == (200, SENT)
    await delivered(client)
    [message] = mail.received
    assert message.rcpt_tos == [EMAIL]
    assert message.message["Subject"] == "Reset Password Notification"
    link = link_in(message)
    assert link.startswith("http://127.0.0.1:8000/reset-password/")
    assert link.endswith("?email=ahmet%40example.com")
    assert "This password reset link will expire in 60 minutes." in body_of(message)
    token, _ = token_of(link)

    row = await PasswordResetToken.get(email=EMAIL)
    assert re.fullmatch(r"\$2y\$04\$[./A-Za-z0-9]{53}", row.token)  # Hash::make's format; never the token
    assert token_matches(token, row.token)

    response = await reset(client, token)
    assert (response.status, response.body) == (200, RESET)
    for revoked in (old_token, second_device):
        assert (await client.get("/api/me", headers=bearer(revoked))).status == 401
    assert (await login(client, EMAIL, "password123")).status == 422
    assert (await login(client, EMAIL, NEW_PASSWORD)).status == 200
    user = await User.get(email=EMAIL)
    assert user.password.startswith("$2y$04$")
    assert user.remember_token is not None and re.fullmatch(r"[A-Za-z0-9]{60}", user.remember_token)
    assert await PasswordResetToken.filter(email=EMAIL).count() == 0

    await delivered(client)
    changed = mail.received[-1]
    assert (changed.rcpt_tos, changed.message["Subject"]) == ([EMAIL], "Your password has been changed")

    again = await reset(client, token, password="yet-another-one")
    assert (again.status, again.json()) == (422, INVALID)
    logs = production_text(caplog.records)
    assert token not in logs and NEW_PASSWORD not in logs and "ahmet@" not in logs


async def test_email_lookup_ignores_case_and_the_row_keeps_the_stored_address(
    mail: SmtpServer, make_client: ClientFactory
) -> None:
    client = await make_client(**smtp_settings(mail))
    await register(client)
    assert (await forgot(client, "AHMET@Example.COM")).body == SENT
    await delivered(client)
    [message] = mail.received
    assert message.rcpt_tos == [EMAIL]
    token, email = token_of(link_in(message))
    assert email == EMAIL
    assert (await reset(client, token, email="Ahmet@example.com")).body == RESET


async def test_tokens_survive_a_reset_when_revocation_is_off(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(revoke_tokens_on_password_reset=False, **smtp_settings(mail))
    access = (await register(client)).json()["access_token"]
    token = await mailed_token(client, mail)
    assert (await reset(client, token)).status == 200
    assert (await client.get("/api/me", headers=bearer(access))).status == 200


async def test_a_reset_ends_refresh_token_sessions_too(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(refresh_tokens=True, **smtp_settings(mail))
    refresh_token = (await register(client)).json()["refresh_token"]
    token = await mailed_token(client, mail)
    assert (await reset(client, token)).body == RESET
    refreshed = await client.post("/api/refresh", json={"refresh_token": refresh_token}, headers=JSON_HEADERS)
    assert refreshed.status == 401


async def test_reset_link_follows_the_configured_template(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(
        app_url="https://api.example.test/",
        password_reset_url="https://spa.example.test/password-reset/{token}?email={email}&from={app_url}",
        **smtp_settings(mail),
    )
    await register(client, email="ayse+tag@example.com", username="ayse")
    assert (await forgot(client, "ayse+tag@example.com")).body == SENT
    await delivered(client)
    link = link_in(mail.received[0])
    assert re.fullmatch(
        r"https://spa\.example\.test/password-reset/[0-9a-f]{64}\?email=ayse%2Btag%40example\.com"
        r"&from=https://api\.example\.test",
        link,
    )


# --- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"email": ["The email field is required."]}),
        ({"email": "   "}, {"email": ["The email field is required."]}),
        ({"email": "not-an-email"}, {"email": ["The email must be a valid email address."]}),
        ({"email": 42}, {"email": ["The email must be a valid email address."]}),
        ({"email": ["a@example.com"]}, {"email": ["The email must be a valid email address."]}),
        ({"email": {"x": "a@example.com"}}, {"email": ["The email must be a valid email address."]}),
        ({"email": "a\u0000@example.com"}, {"email": ["The email contains invalid characters."]}),
    ],
)
async def test_forgot_password_validation(client: ContractClient, body: dict[str, Any], errors: Any) -> None:
    response = await client.post("/api/forgot-password", json=body, headers=JSON_HEADERS)
    assert response.status == 422
    assert response.json() == {"message": "The given data was invalid.", "errors": errors}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {},
            {
                "token": ["The token field is required."],
                "email": ["The email field is required."],
                "password": ["The password field is required."],
            },
        ),
        (
            {"token": "x", "email": "nope", "password": "short", "password_confirmation": "short"},
            {
                "email": ["The email must be a valid email address."],
                "password": ["The password must be at least 8 characters."],
            },
        ),
        (
            {"token": "x", "email": EMAIL, "password": "long-enough", "password_confirmation": "different"},
            {"password": ["The password confirmation does not match."]},
        ),
        (
            {"token": "x", "email": EMAIL, "password": ["long-enough"], "password_confirmation": ["long-enough"]},
            {"password": ["The password must be a string.", "The password must have at least 8 items."]},
        ),
        (
            {"token": [], "email": EMAIL, "password": "long-enough", "password_confirmation": "long-enough"},
            {"token": ["The token field is required."]},
        ),
        (  # deliberate (ASVS 2.1.3): bcrypt would cut it; 37 characters, 74 bytes
            {"token": "x", "email": EMAIL, "password": "ş" * 37, "password_confirmation": "ş" * 37},
            {"password": ["The password must not be greater than 72 bytes."]},
        ),
    ],
)
async def test_reset_password_validation(client: ContractClient, body: dict[str, Any], errors: Any) -> None:
    response = await client.post("/api/reset-password", json=body, headers=JSON_HEADERS)
    assert response.status == 422
    assert response.json() == {"message": "The given data was invalid.", "errors": errors}


async def test_a_bad_password_never_spends_the_token(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(**smtp_settings(mail))
    await register(client)
    token = await mailed_token(client, mail)
    assert (await reset(client, token, password="short")).status == 422
    assert (await reset(client, token, password="x" * 73)).status == 422
    assert (await reset(client, token)).body == RESET


# --- bad tokens ---------------------------------------------------------------------------------------


async def test_wrong_forged_foreign_and_mistyped_tokens_are_invalid(
    mail: SmtpServer, make_client: ClientFactory
) -> None:
    client = await make_client(**smtp_settings(mail))
    await register(client)
    await register(client, email="ayse@example.com", username="ayse")
    ayse_token = await mailed_token(client, mail, "ayse@example.com")
    token = await mailed_token(client, mail)

    forged = new_token(decode_app_key(TEST_APP_KEY))
    for candidate in (
        forged,
        token[:-1],
        token.upper(),
        token + "0",
        ayse_token,
        12345,
        1.5,
        True,
        ["x"],
        {"a": token},
    ):
        response = await reset(client, candidate)
        assert (response.status, response.json()) == (422, INVALID), candidate
    # Ayşe's token does not open Ahmet's account, and nothing above spent either token.
    assert (await reset(client, token)).body == RESET
    assert (await reset(client, ayse_token, email="ayse@example.com")).body == RESET


async def test_expired_token_is_invalid(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(password_reset_expire_minutes=30, **smtp_settings(mail))
    await register(client)
    token = await mailed_token(client, mail)
    await PasswordResetToken.filter(email=EMAIL).update(created_at=utc_now() - timedelta(minutes=31))
    response = await reset(client, token)
    assert (response.status, response.json()) == (422, INVALID)
    await PasswordResetToken.filter(email=EMAIL).update(created_at=utc_now() - timedelta(minutes=29))
    assert (await reset(client, token)).body == RESET


async def test_a_new_link_replaces_the_previous_one(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(password_reset_throttle_seconds=0, **smtp_settings(mail))
    await register(client)
    first = await mailed_token(client, mail)
    second = await mailed_token(client, mail)
    assert await PasswordResetToken.filter(email=EMAIL).count() == 1
    assert (await reset(client, first)).json() == INVALID
    assert (await reset(client, second)).body == RESET


async def test_concurrent_resets_with_one_token_exactly_one_wins(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(**smtp_settings(mail))
    await register(client)
    token = await mailed_token(client, mail)
    passwords = [f"racing-password-{i}" for i in range(30)]
    responses = await asyncio.gather(*(reset(client, token, password=p) for p in passwords))
    assert sorted(r.status for r in responses) == [200] + [422] * 29
    assert all(r.json() == INVALID for r in responses if r.status == 422)
    [winner] = [p for p, r in zip(passwords, responses, strict=True) if r.status == 200]
    assert all(r.body == RESET for r in responses if r.status == 200)
    assert (await login(client, EMAIL, winner)).status == 200


# --- no enumeration -----------------------------------------------------------------------------------


async def test_unknown_and_throttled_emails_answer_exactly_like_a_sent_link(
    mail: SmtpServer, make_client: ClientFactory
) -> None:
    client = await make_client(**smtp_settings(mail))
    await register(client)
    known, unknown = await forgot(client, EMAIL), await forgot(client, "nobody@example.com")
    throttled_known, throttled_unknown = await forgot(client, EMAIL), await forgot(client, "NOBODY@example.com")
    for response in (known, unknown, throttled_known, throttled_unknown):
        assert (response.status, response.body) == (200, SENT)
        assert sorted(response.headers) == sorted(known.headers)
    await delivered(client)
    assert [m.rcpt_tos for m in mail.received] == [[EMAIL]]  # one link, to the one real account
    unknown_reset = await reset(client, "0" * 64, email="nobody@example.com")
    assert (unknown_reset.status, unknown_reset.json()) == (422, INVALID)


async def test_reveal_unknown_emails_restores_laravels_answers(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(reveal_unknown_emails=True, **smtp_settings(mail))
    await register(client)
    unknown = await forgot(client, "nobody@example.com")
    assert (unknown.status, unknown.json()) == (422, UNKNOWN)
    assert (await forgot(client, EMAIL)).body == SENT
    throttled = await forgot(client, EMAIL)
    assert (throttled.status, throttled.json()) == (422, THROTTLED)
    unknown_reset = await reset(client, "0" * 64, email="nobody@example.com")
    assert (unknown_reset.status, unknown_reset.json()) == (422, UNKNOWN)
    await delivered(client)
    assert len(mail.received) == 1


async def test_laravels_row_throttle_also_holds(mail: SmtpServer, make_client: ClientFactory) -> None:
    """A link created within the window by anyone (another worker without Redis, Laravel itself) throttles."""
    client = await make_client(reveal_unknown_emails=True, **smtp_settings(mail))
    await register(client)
    await register(client, email="ayse@example.com", username="ayse")
    stale = hash_token("x" * 64, 4)
    await PasswordResetToken.create(email=EMAIL, token=stale, created_at=utc_now() - timedelta(seconds=5))
    await PasswordResetToken.create(email="ayse@example.com", token=stale, created_at=utc_now() - timedelta(seconds=61))
    throttled = await forgot(client, EMAIL)
    assert (throttled.status, throttled.json()) == (422, THROTTLED)
    assert (await forgot(client, "ayse@example.com")).body == SENT
    await delivered(client)
    assert [m.rcpt_tos for m in mail.received] == [["ayse@example.com"]]
    assert (await PasswordResetToken.get(email="ayse@example.com")).token != stale


async def test_unknown_and_known_emails_take_the_same_time(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(password_reset_throttle_seconds=0, **smtp_settings(mail))
    await register(client)
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for attempt in range(20):
        order = ("known", "unknown") if attempt % 2 else ("unknown", "known")
        for kind in order:
            email = EMAIL if kind == "known" else f"nobody{attempt}@example.com"
            started = time.perf_counter()
            response = await forgot(client, email)
            timings[kind].append(time.perf_counter() - started)
            assert response.body == SENT
            await delivered(client)  # the link is issued after the answer: let it finish outside the clock
    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    assert abs(known - unknown) / max(known, unknown) < 0.25, timings
    assert len(mail.received) == 20


# --- mail failures ------------------------------------------------------------------------------------


async def test_an_unreachable_mail_server_changes_no_answer(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sanctum_py")
    client = await make_client(mail_driver="smtp", mail_host="127.0.0.1", mail_port=free_port(), mail_timeout=2)
    await register(client)
    response = await forgot(client, EMAIL)
    assert (response.status, response.body) == (200, SENT)
    await delivered(client)
    logged = production_text(caplog.records)
    assert "reset mail not delivered: MailDeliveryError" in logged
    assert "ahmet@" not in logged and "reset-password/" not in logged

    # The stored link still works (here, with a token written as Laravel would): the reset answers as usual.
    token = new_token(decode_app_key(TEST_APP_KEY))
    await PasswordResetToken.filter(email=EMAIL).update(token=hash_token(token, 4))
    assert (await reset(client, token)).body == RESET
    await delivered(client)
    assert "password-changed mail not delivered: MailDeliveryError" in "\n".join(r.getMessage() for r in caplog.records)


# --- Laravel's rows -----------------------------------------------------------------------------------

_LARAVEL8_TABLE = {
    "sqlite": 'CREATE TABLE IF NOT EXISTS "password_resets" ("email" varchar not null, "token" varchar not null, '
    '"created_at" datetime)',
    "postgres": 'CREATE TABLE IF NOT EXISTS "password_resets" ("email" varchar(255) not null, '
    '"token" varchar(255) not null, "created_at" timestamp(0) without time zone null)',
    "mysql": "CREATE TABLE IF NOT EXISTS `password_resets` (`email` varchar(255) not null, "
    "`token` varchar(255) not null, `created_at` timestamp null, INDEX `password_resets_email_index` (`email`)) "
    "default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
}


async def _laravel_insert(table: str, email: str, token: str, created_at: datetime) -> None:
    """What DatabaseTokenRepository::create sends: `insert into <table> (email, token, created_at) values (...)`,
    created_at as `Y-m-d H:i:s` (Carbon::now(), UTC)."""
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    quote = "`" if dialect == "mysql" else '"'
    marks = {"postgres": "$1, $2, $3", "mysql": "%s, %s, %s"}.get(dialect, "?, ?, ?")
    naive = created_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    stamp: Any = naive.strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else naive
    await connection.execute_query(
        f"INSERT INTO {quote}{table}{quote} (email, token, created_at) VALUES ({marks})",
        [email, token, stamp],
    )


@pytest.mark.parametrize("table", ["password_reset_tokens", "password_resets"])
async def test_a_token_issued_by_laravel_works_here(mail: SmtpServer, make_client: ClientFactory, table: str) -> None:
    client = await make_client(password_reset_table=table, **smtp_settings(mail))
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    await connection.execute_script(_LARAVEL8_TABLE[dialect])
    quote = "`" if dialect == "mysql" else '"'
    await connection.execute_script(f"DELETE FROM {quote}password_resets{quote}")
    await register(client)
    # Laravel: hash_hmac('sha256', Str::random(40), base64-decoded APP_KEY), stored as Hash::make() ($2y$10$).
    token = new_token(decode_app_key(TEST_APP_KEY))
    await _laravel_insert(table, EMAIL, hash_token(token, 10), datetime.now(UTC) - timedelta(minutes=5))
    assert (await reset(client, token)).body == RESET
    assert (await reset(client, token)).json() == INVALID
    assert await PasswordResetToken.filter(email=EMAIL).count() == 0


@pytest.mark.parametrize("table", ["password_reset_tokens", "password_resets"])
async def test_a_token_issued_here_is_laravels_format(mail: SmtpServer, make_client: ClientFactory, table: str) -> None:
    """The row is what Laravel's repository reads: one row for the email, `$2y$` bcrypt of the mailed
    64-hex token that PHP's password_verify accepts, created_at as `Y-m-d H:i:s` UTC."""
    client = await make_client(password_reset_table=table, password_reset_throttle_seconds=0, **smtp_settings(mail))
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    await connection.execute_script(_LARAVEL8_TABLE[dialect])
    quote = "`" if dialect == "mysql" else '"'
    await connection.execute_script(f"DELETE FROM {quote}password_resets{quote}")
    await register(client)
    await mailed_token(client, mail)
    token = await mailed_token(client, mail)  # the second link replaced the first: still one row
    rows = await connection.execute_query_dict(f"SELECT email, token, created_at FROM {quote}{table}{quote}")
    [row] = rows
    assert row["email"] == EMAIL
    assert re.fullmatch(r"\$2y\$04\$[./A-Za-z0-9]{53}", row["token"])
    assert token_matches(token, row["token"])
    created = row["created_at"]
    if dialect == "sqlite":
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", created)
        created = datetime.fromisoformat(created)
    assert abs(created.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert (await reset(client, token)).body == RESET
