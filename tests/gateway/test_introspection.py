"""POST /oauth/introspect (RFC 7662) over HTTP on every backend: every access token kind is active with its
owner; anything else is exactly `{"active": false}`; clients authenticate with Basic against hashed
secrets, and failures are counted per address."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from sanctum_py.core.gateway_clients import parse_clients
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, User
from tests.conftest import ClientFactory
from tests.gateway.helpers import (
    FORM,
    INACTIVE,
    INTROSPECT,
    INVALID_CLIENT,
    USERNAME,
    basic,
    introspect,
    new_client,
    tokens_of_every_kind,
)
from tests.support.api import bearer, register
from tests.support.contract import WireResponse

RESOURCE = new_client("resource-server")
OTHER = new_client("billing")
CLIENTS = f"{RESOURCE.setting}, {OTHER.setting}"


def assert_inactive(response: WireResponse, why: str) -> None:
    assert response.status == 200, (why, response.text)
    assert response.body == INACTIVE, (why, response.text)  # byte for byte: nothing says why
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


async def test_every_access_token_kind_is_active_with_its_owner(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS, refresh_tokens=True)
    tokens = await tokens_of_every_kind(client)
    for kind, token in tokens.access.items():
        response = await introspect(client, token, RESOURCE.basic)
        assert response.status == 200, (kind, response.text)
        body = response.json()
        assert body["active"] is True, kind
        assert body["sub"] == str(tokens.user_id) and body["username"] == USERNAME and body["role"] == "user", kind
        assert body["token_type"] == "Bearer" and body["scope"] == "*" and body["abilities"] == ["*"], kind
        row = await PersonalAccessToken.get(id=int(body["jti"]))
        assert row.tokenable_id == tokens.user_id, kind
        if row.expires_at is None:  # Sanctum's default: never expires, so no `exp`
            assert "exp" not in body, kind
        else:
            assert body["exp"] == int(row.expires_at.timestamp()), kind
        assert response.headers["Cache-Control"] == "no-store"
    jwt = (await introspect(client, tokens.access["graphql JWT"], OTHER.basic)).json()
    assert abs(jwt["iat"] - time.time()) < 60 and jwt["exp"] - jwt["iat"] == 3600  # ACCESS_TOKEN_MINUTES
    assert "iat" not in (await introspect(client, tokens.access["v1"], OTHER.basic)).json()


async def test_abilities_are_the_scope(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS)
    await register(client)
    login = await client.post(
        "/api/login", json={"login": USERNAME, "password": "password123", "abilities": ["tokens:read", "orders:write"]}
    )
    body = (await introspect(client, login.json()["access_token"], RESOURCE.basic)).json()
    assert body["scope"] == "tokens:read orders:write"
    assert body["abilities"] == ["tokens:read", "orders:write"]


async def test_anything_but_a_good_access_token_is_inactive_and_nothing_says_why(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS, refresh_tokens=True)
    tokens = await tokens_of_every_kind(client)
    for kind, token in tokens.refresh.items():
        assert_inactive(await introspect(client, token, RESOURCE.basic), f"refresh token ({kind})")
    laravel = tokens.access["laravel login"]
    token_id, secret = laravel.split("|", 1)
    garbage = ["", "x", "garbage-token", "1|", "|secret", f"{token_id}|{secret}x", f"999999|{secret}", "ğüş|çö"]
    garbage += ["eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "0|" + secret, "a" * 5000]
    for token in garbage:
        assert_inactive(await introspect(client, token, RESOURCE.basic), f"malformed {token[:20]!r}")

    # Revoked through the service (logout): inactive at once, though the guard had it cached.
    assert (await introspect(client, laravel, RESOURCE.basic)).json()["active"] is True
    assert (await client.post("/api/logout", headers=bearer(laravel))).status == 200
    assert_inactive(await introspect(client, laravel, RESOURCE.basic), "revoked")

    # Expired (the row's expires_at passed before this token was ever looked at, so nothing cached it).
    expiring = tokens.access["sanctum/token (device)"]
    await PersonalAccessToken.filter(id=int(expiring.split("|")[0])).update(expires_at=utc_now() - timedelta(seconds=1))
    assert_inactive(await introspect(client, expiring, RESOURCE.basic), "expired")

    # A deactivated user's tokens (deactivated by an admin, through the API).
    boss = (await register(client, username="boss", email="boss@example.com")).json()
    await User.filter(id=boss["data"]["id"]).update(role="admin")
    active = tokens.access["v1"]
    assert (await introspect(client, active, RESOURCE.basic)).json()["active"] is True
    deactivated = await client.request(
        "PATCH", f"/api/users/{tokens.user_id}", json={"is_active": False}, headers=bearer(boss["access_token"])
    )
    assert deactivated.status == 200, deactivated.text
    for kind, token in tokens.access.items():
        assert_inactive(await introspect(client, token, RESOURCE.basic), f"inactive user ({kind})")


async def test_token_type_hint_is_ignored(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS, refresh_tokens=True)
    tokens = await tokens_of_every_kind(client)
    access, refresh = tokens.access["laravel login"], tokens.refresh["laravel"]
    for hint in ("access_token", "refresh_token", "unknown_kind"):
        answer = await client.post(
            INTROSPECT, data={"token": access, "token_type_hint": hint}, headers={**FORM, **RESOURCE.basic}
        )
        assert answer.json()["active"] is True, hint
        refused = await client.post(
            INTROSPECT, data={"token": refresh, "token_type_hint": hint}, headers={**FORM, **RESOURCE.basic}
        )
        assert refused.body == INACTIVE, hint


async def test_client_authentication_failures_all_look_alike(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS, introspection_max_failures=100)
    token = (await register(client)).json()["access_token"]
    wrong = [
        {},  # no credentials
        bearer(token),  # a user's token is not a client's credentials
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "bm8tY29sb24="},  # "no-colon"
        basic(RESOURCE.client_id, RESOURCE.secret + "x"),
        basic(RESOURCE.client_id, OTHER.secret),  # another client's secret
        basic("nobody", RESOURCE.secret),
        basic("", ""),
        basic(RESOURCE.client_id, ""),
    ]
    for auth in wrong:
        response = await introspect(client, token, auth)
        assert response.status == 401, (auth, response.text)
        assert response.body == INVALID_CLIENT
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert "active" not in response.text
    assert (await introspect(client, token, {"Authorization": "basic " + RESOURCE.basic["Authorization"][6:]})).json()[
        "active"
    ] is True  # the scheme in any case (RFC 7235)


async def test_the_client_is_checked_before_the_request(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS)
    token = (await register(client)).json()["access_token"]
    malformed = [
        {"json": {"token": token}},  # JSON, not a form
        {"data": b"", "headers": FORM},  # no token
        {"data": b"token=a&token=b", "headers": FORM},  # twice (RFC 6749 §3.2)
        {"data": b"token=\xff\xfe", "headers": FORM},  # not UTF-8
        {"data": "&".join(f"f{n}=1" for n in range(40)) + "&token=x", "headers": FORM},  # a flood of fields
    ]
    for request in malformed:
        headers = request.pop("headers", {})
        anonymous = await client.post(INTROSPECT, headers=headers, **request)
        assert (anonymous.status, anonymous.body) == (401, INVALID_CLIENT), request
        authenticated = await client.post(INTROSPECT, headers={**headers, **RESOURCE.basic}, **request)
        assert (authenticated.status, authenticated.body) == (400, b'{"error":"invalid_request"}'), request


async def test_failed_client_authentications_are_throttled_per_address(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS, introspection_max_failures=3, trusted_proxies="127.0.0.1")
    token = (await register(client)).json()["access_token"]
    attacker, neighbour = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "203.0.113.8"}
    for _ in range(5):  # no credentials guess nothing: not counted
        assert (await introspect(client, token, {}, attacker)).status == 401
    for guess in range(3):
        refused = await introspect(client, token, basic(RESOURCE.client_id, f"guess-{guess}"), attacker)
        assert refused.status == 401
        assert "X-RateLimit-Limit" not in refused.headers
    throttled = await introspect(client, token, RESOURCE.basic, attacker)  # even the right secret, now
    assert throttled.status == 429, throttled.text
    assert throttled.body == b'{"error":"too_many_requests"}'
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert throttled.headers["X-RateLimit-Limit"] == "3"
    assert (await introspect(client, token, {}, attacker)).status == 429
    # Another address is not held by it.
    assert (await introspect(client, token, RESOURCE.basic, neighbour)).json()["active"] is True


async def test_the_endpoint_is_off_without_clients(make_client: ClientFactory) -> None:
    client = await make_client()
    token = (await register(client)).json()["access_token"]
    for auth in ({}, RESOURCE.basic):
        response = await introspect(client, token, auth)
        assert (response.status, response.body) == (404, b'{"error":"not_found"}')


async def test_only_post_is_answered(make_client: ClientFactory) -> None:
    client = await make_client(introspection_clients=CLIENTS)
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):
        response = await client.request(method, INTROSPECT, headers=RESOURCE.basic)
        assert response.status == 405, method
        assert response.headers["Allow"] == "POST"
    unknown = await client.get(INTROSPECT + "/other")
    assert (unknown.status, unknown.body) == (404, b'{"error":"not_found"}')
    big = await make_client(introspection_clients=CLIENTS, max_body_bytes=64)
    too_large = await big.post(INTROSPECT, data={"token": "x" * 100}, headers={**FORM, **RESOURCE.basic})
    assert (too_large.status, too_large.body) == (413, b'{"error":"request_too_large"}')


@pytest.mark.parametrize(
    "configured",
    [
        "client:plain-secret-pasted-here",
        "client:sha256:abc",
        ":sha256:" + "a" * 64,
        "client:md5:" + "a" * 32,
        "client:sha256:" + "a" * 64 + ",client:sha256:" + "b" * 64,
    ],
)
def test_a_malformed_client_setting_stops_startup_without_quoting_it(configured: str) -> None:
    with pytest.raises(ValueError, match="INTROSPECTION_CLIENTS entry") as refused:
        parse_clients(configured)
    assert "secret" not in str(refused.value) and "a" * 32 not in str(refused.value)


def test_client_settings_are_digests() -> None:
    parsed = parse_clients(f" {RESOURCE.setting} ,, {OTHER.setting.upper().replace('SHA256', 'sha256')} ")
    assert set(parsed) == {"resource-server", "BILLING"}
    assert all(len(digest) == 32 for digest in parsed.values())
    assert parse_clients("") == {}
