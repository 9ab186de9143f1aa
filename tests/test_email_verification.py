"""Email verification through the API, against a real SMTP server and every database backend.

The link travels the way a user's does: mailed by the service, read out of the received message, and
opened with the user's Bearer token. Links are also signed by hand exactly as Laravel's
URL::temporarySignedRoute signs them, to show that links from a Laravel app with the same APP_KEY work.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from sanctum_py.db.models import User
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import TEST_APP_KEY, ClientFactory
from tests.mail.conftest import SmtpServer
from tests.support.api import JSON_HEADERS, bearer, register
from tests.support.contract import ContractClient, WireResponse
from tests.support.logs import production_text
from tests.support.mailbox import body_of, delivered, link_in, smtp_server, smtp_settings
from tests.support.servers import free_port

APP_URL = "http://127.0.0.1:8000"  # the test settings' APP_URL: links are signed for it
INVALID_SIGNATURE = b'{\n    "message": "Invalid signature."\n}'
UNAUTHORIZED = b'{\n    "message": "This action is unauthorized."\n}'
UNVERIFIED = b'{\n    "message": "Your email address is not verified."\n}'


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    """Name it before `make_client`: the server must outlive the app, which delivers pending mail as it stops."""
    with smtp_server() as server:
        yield server


def laravel_link(user_id: int | str, email: str, expires: int | None, key: str = TEST_APP_KEY) -> str:
    """URL::temporarySignedRoute('verification.verify', ...) written out: the route URL with `expires`
    (ksort-ed parameters), HMAC-SHA256 of it keyed with the APP_KEY string itself, `signature` last."""
    sha1 = hashlib.sha1(email.encode(), usedforsecurity=False).hexdigest()
    url = f"{APP_URL}/api/email/verify/{user_id}/{sha1}" + (f"?expires={expires}" if expires is not None else "")
    signature = hmac.new(key.encode(), url.encode(), hashlib.sha256).hexdigest()
    return f"{url}{'&' if expires is not None else '?'}signature={signature}"


def local(link: str) -> str:
    """The path and query of a link: what the test client requests (the host is the test server's)."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def signed_up(client: ContractClient, **overrides: Any) -> tuple[int, str]:
    body = (await register(client, **overrides)).json()
    return body["data"]["id"], body["access_token"]


async def send(client: ContractClient, token: str) -> WireResponse:
    return await client.post("/api/email/verification-notification", headers=bearer(token))


async def follow(client: ContractClient, link: str, token: str) -> WireResponse:
    return await client.get(local(link), headers=bearer(token))


async def reset_verification_throttle(client: ContractClient, user_id: int) -> None:
    """Empty the user's `throttle:6,1` bucket (the pipeline keys it `<limiter>:user:<id>`)."""
    await client.app[SERVICES].limiter.clear(f"verification:user:{user_id}")


async def me(client: ContractClient, token: str) -> dict[str, Any]:
    response = await client.get("/api/me", headers=bearer(token))
    assert response.status == 200
    body: dict[str, Any] = response.json()
    return body


# --- the whole flow ---------------------------------------------------------------------------------


async def test_mailed_link_verifies_the_email(
    mail: SmtpServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sanctum_py")
    client = await make_client(**smtp_settings(mail))
    user_id, token = await signed_up(client)
    assert (await me(client, token))["email_verified_at"] is None  # also puts the user in the token cache

    sent = await send(client, token)
    assert (sent.status, sent.body, sent.headers["Content-Type"]) == (202, b'""', "application/json")
    assert sent.headers["X-RateLimit-Limit"] == "6"
    await delivered(client)
    [message] = mail.received
    assert (message.rcpt_tos, message.message["Subject"]) == (["ahmet@example.com"], "Verify Email Address")
    link = link_in(message)
    sha1 = hashlib.sha1(b"ahmet@example.com", usedforsecurity=False).hexdigest()
    assert link.startswith(f"{APP_URL}/api/email/verify/{user_id}/{sha1}?expires=")
    assert "&signature=" in link

    verified = await follow(client, link, token)
    assert (verified.status, verified.body) == (204, b"")
    user = await me(client, token)  # not the cached copy from before
    assert user["email_verified_at"] is not None
    assert user["email_verified_at"] == user["updated_at"]

    # Again, and asking for another link once verified: 204, nothing sent.
    assert (await follow(client, link, token)).status == 204
    again = await send(client, token)
    assert (again.status, again.body) == (204, b"")
    await delivered(client)
    assert len(mail.received) == 1
    logs = production_text(caplog.records)
    assert "signature=" not in logs and "ahmet@" not in logs and "Verify" not in logs


async def test_head_follows_the_link_too(make_client: ClientFactory) -> None:
    client = await make_client()
    user_id, token = await signed_up(client)
    response = await client.request(
        "HEAD", local(laravel_link(user_id, "ahmet@example.com", int(time.time()) + 60)), headers=bearer(token)
    )
    assert response.status == 204
    assert (await User.get(id=user_id)).email_verified_at is not None


async def test_a_link_signed_by_laravel_verifies_here(make_client: ClientFactory) -> None:
    client = await make_client()
    user_id, token = await signed_up(client)
    link = laravel_link(user_id, "ahmet@example.com", int(time.time()) + 3600)
    assert (await follow(client, link, token)).status == 204
    assert (await me(client, token))["email_verified_at"] is not None


async def test_a_link_without_expiry_is_valid(make_client: ClientFactory) -> None:
    """URL::signedRoute (no `expires`) links never expire in Laravel either."""
    client = await make_client()
    user_id, token = await signed_up(client)
    assert (await follow(client, laravel_link(user_id, "ahmet@example.com", None), token)).status == 204


async def test_our_link_is_the_one_laravel_would_sign(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(**smtp_settings(mail))
    user_id, token = await signed_up(client)
    await send(client, token)
    await delivered(client)
    link = link_in(mail.received[0])
    expires = int(link.split("expires=")[1].split("&")[0])
    assert 3590 <= expires - time.time() <= 3600
    assert link == laravel_link(user_id, "ahmet@example.com", expires)
    assert "Please click the link below to verify your email address." in body_of(mail.received[0])


# --- refusals ---------------------------------------------------------------------------------------


async def test_tampered_expired_and_forged_links_are_invalid_signatures(make_client: ClientFactory) -> None:
    client = await make_client()
    user_id, token = await signed_up(client)
    now = int(time.time())
    good = local(laravel_link(user_id, "ahmet@example.com", now + 3600))
    path, query = good.split("?")
    expires, signature = query.split("&")
    sha1 = path.rsplit("/", 1)[1]
    bad_links = [
        local(laravel_link(user_id, "ahmet@example.com", now - 1)),  # expired, correctly signed
        local(laravel_link(user_id, "ahmet@example.com", now + 3600, key="base64:" + "A" * 43 + "=")),  # other key
        f"{path}?expires={now + 7200}&{signature}",  # extended expiry
        f"{path}?{expires}",  # no signature
        f"{path}?{expires}&signature=",
        f"{path}?{expires}&{signature[:-1]}0" if not signature.endswith("0") else f"{path}?{expires}&{signature[:-1]}1",
        f"{path}?{expires}&{signature}&extra=1",  # a parameter added after signing
        f"{path}?{expires}&{signature.upper()}",
        f"{path.replace(sha1, '0' * 40)}?{query}",  # another hash under the same signature
        f"/api/email/verify/{user_id + 1}/{sha1}?{query}",  # another id under the same signature
        f"{path}?expires=abc&{signature}",
        f"{path}?expires[]=1&{signature}",
        f"{path}?{expires}&signature[]=x",
        f"/api/email/verify/%C3%A9/{sha1}?{query}",
        f"{path}?{expires}&signature=%00",
        path,
    ]
    for link in bad_links:
        await reset_verification_throttle(client, user_id)  # more tries than the 6 a minute allow
        response = await client.get(link, headers=bearer(token))
        assert (response.status, response.body) == (403, INVALID_SIGNATURE), link
    assert (await User.get(id=user_id)).email_verified_at is None
    assert (await client.get(good, headers=bearer(token))).status == 204


async def test_another_users_link_is_unauthorized(make_client: ClientFactory) -> None:
    client = await make_client()
    ahmet_id, ahmet = await signed_up(client)
    ayse_id, _ = await signed_up(client, email="ayse@example.com", username="ayse")
    expires = int(time.time()) + 3600
    for link in (
        laravel_link(ayse_id, "ayse@example.com", expires),  # Ayşe's genuine link, opened by Ahmet
        laravel_link(ahmet_id, "ayse@example.com", expires),  # Ahmet's id, Ayşe's email
        laravel_link(ayse_id, "ahmet@example.com", expires),
        laravel_link(f"0{ahmet_id}", "ahmet@example.com", expires),  # PHP compares the strings: "01" != "1"
    ):
        response = await follow(client, link, ahmet)
        assert (response.status, response.body) == (403, UNAUTHORIZED), link
    assert await User.filter(email_verified_at__isnull=False).count() == 0


async def test_both_routes_need_a_token(make_client: ClientFactory) -> None:
    client = await make_client()
    user_id, _ = await signed_up(client)
    link = local(laravel_link(user_id, "ahmet@example.com", int(time.time()) + 3600))
    for response in (
        await client.get(link, headers=JSON_HEADERS),
        await client.get(link, headers=bearer("1|not-a-token")),
        await client.post("/api/email/verification-notification", headers=JSON_HEADERS),
    ):
        assert (response.status, response.json()) == (401, {"message": "Unauthenticated."})
    assert (await User.get(id=user_id)).email_verified_at is None


async def test_six_a_minute_per_user_across_both_routes(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(**smtp_settings(mail))
    user_id, token = await signed_up(client)
    bad = local(laravel_link(user_id, "ahmet@example.com", int(time.time()) - 10))
    statuses = [(await send(client, token)).status for _ in range(3)]
    statuses += [(await follow(client, bad, token)).status for _ in range(3)]
    assert statuses == [202, 202, 202, 403, 403, 403]
    for response in (await send(client, token), await follow(client, bad, token)):
        assert response.status == 429
        assert response.headers["X-RateLimit-Limit"] == "6"
        assert int(response.headers["Retry-After"]) > 0
    # The API's own bucket is another one: the user can still use the rest of the API.
    await me(client, token)
    _, other = await signed_up(client, email="ayse@example.com", username="ayse")
    assert (await send(client, other)).status == 202
    await delivered(client)


async def test_concurrent_verifications_all_succeed_and_write_once(make_client: ClientFactory) -> None:
    client = await make_client()
    user_id, token = await signed_up(client)
    link = laravel_link(user_id, "ahmet@example.com", int(time.time()) + 3600)
    responses = await asyncio.gather(*(follow(client, link, token) for _ in range(5)))
    assert [r.status for r in responses] == [204] * 5
    assert (await User.get(id=user_id)).email_verified_at is not None


# --- REQUIRE_VERIFIED_EMAIL ---------------------------------------------------------------------------


async def test_unverified_users_get_409_until_they_verify(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(require_verified_email=True, **smtp_settings(mail))
    _, token = await signed_up(client)
    blocked = await client.get("/api/me", headers=bearer(token))
    assert (blocked.status, blocked.body) == (409, UNVERIFIED)
    assert (await send(client, token)).status == 202
    await delivered(client)
    assert (await follow(client, link_in(mail.received[0]), token)).status == 204
    assert (await client.get("/api/me", headers=bearer(token))).status == 200
    _, second = await signed_up(client, email="ayse@example.com", username="ayse")
    logout = await client.post("/api/logout", headers=bearer(second))
    assert logout.status == 200  # signing out never needs a verified email


# --- mail failures ------------------------------------------------------------------------------------


async def test_an_unreachable_mail_server_changes_no_answer(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(mail_driver="smtp", mail_host="127.0.0.1", mail_port=free_port(), mail_timeout=2)
    _, token = await signed_up(client)
    response = await send(client, token)
    assert (response.status, response.body) == (202, b'""')
    await delivered(client)
    logged = production_text(caplog.records)
    assert "verification mail not delivered: MailDeliveryError" in logged
    assert "signature" not in logged and "ahmet@" not in logged
