"""The envelope's password reset (seed 003): the request never tells known from unknown addresses, and
the confirm takes only `{token, newPassword}`: the mailed token says whose reset it is, is stored only as
Laravel's bcrypt row, expires, is single use, and the reset ends every session."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PasswordResetToken
from tests.envelope.helpers import (
    BAD_CREDENTIALS,
    BAD_RESET,
    BASE,
    INVALID_SESSION,
    bearer,
    expect,
    failed,
    field,
    login,
    ok,
    post,
    registered,
    user_row,
)
from tests.mail.conftest import SmtpServer
from tests.support.mailbox import delivered, link_in, smtp_settings

ClientFactory = Any
SENT = ok("Şifre sıfırlama bağlantısı e-posta adresinize gönderildi", None)
DONE = ok("Şifreniz başarıyla güncellendi", None)
NEW_PASSWORD = "YeniSifre2024"


async def mailed_token(client: Any, mail: SmtpServer, email: str = "ayse@example.com") -> str:
    expect(await post(client, "password-reset/request", {"email": email}), 200, SENT)
    await delivered(client)
    match = re.fullmatch(r"/reset-password/([0-9]+\.[0-9a-f]{64})", urlsplit(link_in(mail.received[-1])).path)
    assert match, link_in(mail.received[-1])
    return match.group(1)


async def test_reset_by_token_alone_ends_every_session(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(password_reset_throttle_seconds=0, **smtp_settings(mail))
    session = await registered(client)
    token = await mailed_token(client, mail)
    row = await user_row()
    assert token.split(".")[0] == str(row["id"])
    [stored] = await PasswordResetToken.filter(email="ayse@example.com")
    assert token.split(".")[1] not in stored.token and stored.token.startswith("$2y$")  # only a bcrypt is kept
    response = await post(client, "password-reset/confirm", {"token": token, "newPassword": NEW_PASSWORD})
    expect(response, 200, DONE)
    # Single use.
    again = await post(client, "password-reset/confirm", {"token": token, "newPassword": "BaskaSifre2024"})
    expect(
        again,
        400,
        failed(
            "VALIDATION_ERROR",
            BAD_RESET,
            f"{BASE}/password-reset/confirm",
            [field("token", "INVALID_TOKEN", "token geçersiz veya süresi dolmuş")],
        ),
    )
    # Every session ended: the access token and the refresh token.
    me = await client.get(f"{BASE}/me", headers=bearer(session["token"]))
    expect(me, 401, failed("AUTHENTICATION_ERROR", INVALID_SESSION, f"{BASE}/me"))
    assert (await post(client, "refresh", {"refreshToken": session["refreshToken"]})).status == 401
    expect(await login(client), 401, failed("AUTHENTICATION_ERROR", BAD_CREDENTIALS, f"{BASE}/login"))
    assert (await login(client, password=NEW_PASSWORD)).status == 200


async def test_forged_foreign_and_expired_tokens_are_refused(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(password_reset_throttle_seconds=0, **smtp_settings(mail))
    await registered(client)
    other = await registered(client, username="mehmet", email="mehmet@example.com")
    token = await mailed_token(client, mail)
    user_id, secret = token.split(".")
    bad = failed(
        "VALIDATION_ERROR",
        BAD_RESET,
        f"{BASE}/password-reset/confirm",
        [field("token", "INVALID_TOKEN", "token geçersiz veya süresi dolmuş")],
    )
    for forged in (
        f"{other['user']['id']}.{secret}",  # the right secret under someone else's id
        f"{user_id}.{'0' * 64}",  # the right id with a wrong secret
        f"999999.{secret}",  # an unknown id
        secret,  # Laravel's bare token: no id
        "x.y",
    ):
        expect(await post(client, "password-reset/confirm", {"token": forged, "newPassword": NEW_PASSWORD}), 400, bad)
    await PasswordResetToken.filter(email="ayse@example.com").update(created_at=utc_now() - timedelta(minutes=61))
    expect(await post(client, "password-reset/confirm", {"token": token, "newPassword": NEW_PASSWORD}), 400, bad)


async def test_unknown_emails_answer_exactly_like_known_ones(mail: SmtpServer, make_client: ClientFactory) -> None:
    # Even with REVEAL_UNKNOWN_EMAILS (the Laravel wire's choice), this wire never tells.
    client = await make_client(password_reset_throttle_seconds=0, reveal_unknown_emails=True, **smtp_settings(mail))
    await registered(client)
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for attempt in range(12):
        for kind in ("known", "unknown") if attempt % 2 else ("unknown", "known"):
            email = "ayse@example.com" if kind == "known" else f"nobody{attempt}@example.com"
            started = time.perf_counter()
            response = await post(client, "password-reset/request", {"email": email})
            timings[kind].append(time.perf_counter() - started)
            expect(response, 200, SENT)
            await delivered(client)
    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    assert abs(known - unknown) / max(known, unknown) < 0.5, timings
    assert len(mail.received) == 12


async def test_reset_validation_lists_every_field(client: Any) -> None:
    response = await post(client, "password-reset/confirm", {"newPassword": "kisa"})
    expect(
        response,
        422,
        failed(
            "VALIDATION_ERROR",
            "Doğrulama hatası",
            f"{BASE}/password-reset/confirm",
            [
                field("token", "REQUIRED", "token alanı zorunludur"),
                field("newPassword", "TOO_SHORT", "newPassword en az 8 karakter olmalıdır"),
            ],
        ),
    )
    response = await post(client, "password-reset/request", {"email": "not-an-email"})
    expect(
        response,
        422,
        failed(
            "VALIDATION_ERROR",
            "Doğrulama hatası",
            f"{BASE}/password-reset/request",
            [field("email", "INVALID_FORMAT", "email geçerli bir e-posta adresi olmalıdır")],
        ),
    )
