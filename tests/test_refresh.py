"""Refresh tokens (REFRESH_TOKENS=true): rotation, reuse detection, the grace window, the throttle, and
bodies that stay exactly Laravel's while the feature is off. Every test runs on every backend."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import pytest

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, RefreshToken, User, decode_abilities
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import REDIS_URL, ClientFactory
from tests.support.api import JSON_HEADERS, bearer, login, register
from tests.support.contract import ContractClient, WireResponse

TOKEN = re.compile(r"(?P<id>[1-9][0-9]*)\|(?P<secret>[A-Za-z0-9]{40}[0-9a-f]{8})")
UNAUTHENTICATED = b'{"message":"Unauthenticated."}'
SIGNED_IN_KEYS = ["data", "access_token", "token_type", "refresh_token", "expires_in"]
RACERS = 40  # concurrent presentations of one refresh token in the race tests


# --- helpers ---------------------------------------------------------------------------------------------


async def refresh(client: ContractClient, token: Any) -> WireResponse:
    return await client.post("/api/refresh", json={"refresh_token": token}, headers=JSON_HEADERS)


async def signed_in(client: ContractClient, **extra: Any) -> dict[str, Any]:
    """Register the default user, then log in (with `extra` login fields); the login's body."""
    await register(client)
    response = await client.post(
        "/api/login", json={"login": "ahmetyilmaz", "password": "password123", **extra}, headers=JSON_HEADERS
    )
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row_id(plain: str) -> int:
    return int(plain.split("|", 1)[0])


async def family_of(plain: str) -> list[RefreshToken]:
    """Every refresh token descended from the sign-in that issued `plain`."""
    family = (await RefreshToken.get(id=row_id(plain))).family
    return await RefreshToken.filter(family=family)


def minutes_from_now(moment: Any) -> float:
    return float((moment - utc_now()) / timedelta(minutes=1))


async def me_status(client: ContractClient, access_token: str) -> int:
    return (await client.get("/api/me", headers=bearer(access_token))).status


async def refresh_client(make_client: ClientFactory, **overrides: Any) -> ContractClient:
    return await make_client(refresh_tokens=True, **overrides)


# --- off by default ------------------------------------------------------------------------------------------


async def test_off_by_default_bodies_are_laravels_and_the_route_is_absent(client: ContractClient) -> None:
    registered = (await register(client)).json()
    assert list(registered) == ["data", "access_token", "token_type"]
    body = (await login(client, "ahmetyilmaz", "password123")).json()
    assert list(body) == ["data", "access_token", "token_type"]
    assert (await PersonalAccessToken.get(id=row_id(body["access_token"]))).expires_at is None
    assert await RefreshToken.all().count() == 0

    absent = await refresh(client, "1|whatever")
    assert (absent.status, absent.body) == (404, b'{\n    "message": ""\n}')
    assert await RefreshToken.all().count() == 0  # (the service exists either way: the v1 wire always refreshes)


# --- issuing -------------------------------------------------------------------------------------------------


async def test_register_and_login_return_a_refresh_token(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    for response in (await register(client), await login(client, "ahmetyilmaz", "password123")):
        body = response.json()
        assert list(body) == SIGNED_IN_KEYS
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        assert response.headers["Cache-Control"] == "no-store"
        access, refresh_token = TOKEN.fullmatch(body["access_token"]), TOKEN.fullmatch(body["refresh_token"])
        assert access is not None and refresh_token is not None

        access_row = await PersonalAccessToken.get(id=int(access.group("id")))
        assert access_row.expires_at is not None and 59 <= minutes_from_now(access_row.expires_at) <= 60

        row = await RefreshToken.get(id=int(refresh_token.group("id")))
        assert row.token == hashlib.sha256(refresh_token.group("secret").encode()).hexdigest()
        assert row.access_token_id == access_row.id and row.parent_id is None
        assert (row.used_at, row.revoked_at, row.handoff) == (None, None, None)
        assert 7 * 24 * 60 - 1 <= minutes_from_now(row.expires_at) <= 7 * 24 * 60
    families = await RefreshToken.all().values_list("family", flat=True)
    assert len(set(families)) == 2  # each sign-in starts its own family


async def test_registration_with_refresh_tokens_keeps_laravels_user_body(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, access_token_minutes=5)
    body = (await register(client)).json()
    assert list(body["data"]) == ["name", "surname", "username", "email", "updated_at", "created_at", "id"]
    assert body["expires_in"] == 300


async def test_remember_me_gives_the_refresh_token_the_longer_life(make_client: ClientFactory) -> None:
    client = await refresh_client(
        make_client, remember_me_minutes=600, refresh_token_days=1, refresh_throttle_seconds=0
    )
    body = await signed_in(client, remember_me=True)
    row = await RefreshToken.get(id=row_id(body["refresh_token"]))
    assert 599 <= minutes_from_now(row.expires_at) <= 600
    assert body["expires_in"] == 3600  # the access token stays short

    child = (await refresh(client, body["refresh_token"])).json()["refresh_token"]
    assert 599 <= minutes_from_now((await RefreshToken.get(id=row_id(child))).expires_at) <= 600

    plain = (await login(client, "ahmetyilmaz", "password123")).json()["refresh_token"]
    assert 24 * 60 - 1 <= minutes_from_now((await RefreshToken.get(id=row_id(plain))).expires_at) <= 24 * 60


# --- rotation ------------------------------------------------------------------------------------------------


async def test_refresh_returns_a_new_pair_and_kills_the_old_access_token(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    first = await signed_in(client, device_name="phone", abilities=["tokens:read"])
    assert await me_status(client, first["access_token"]) == 200  # now cached

    response = await refresh(client, first["refresh_token"])
    assert response.status == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert list(body) == SIGNED_IN_KEYS
    assert body["data"] == first["data"] and body["expires_in"] == 3600
    assert body["access_token"] != first["access_token"] and body["refresh_token"] != first["refresh_token"]

    assert await me_status(client, first["access_token"]) == 401  # revoked, cache or not
    assert await me_status(client, body["access_token"]) == 200
    parent = await RefreshToken.get(id=row_id(first["refresh_token"]))
    child = await RefreshToken.get(id=row_id(body["refresh_token"]))
    assert parent.used_at is not None and parent.revoked_at is None
    assert (child.family, child.parent_id, child.used_at) == (parent.family, parent.id, None)
    new_access = await PersonalAccessToken.get(id=row_id(body["access_token"]))
    assert (new_access.name, decode_abilities(new_access.abilities)) == ("phone", ["tokens:read"])
    assert 59 <= minutes_from_now(new_access.expires_at) <= 60


async def test_an_expired_access_token_is_renewed_by_its_refresh_token(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client)
    await PersonalAccessToken.filter(id=row_id(body["access_token"])).update(
        expires_at=utc_now() - timedelta(seconds=1)
    )
    assert await me_status(client, body["access_token"]) == 401
    renewed = await refresh(client, body["refresh_token"])
    assert renewed.status == 200
    assert await me_status(client, renewed.json()["access_token"]) == 200


async def test_a_pruned_access_token_does_not_widen_the_session(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client, device_name="tablet", abilities=["tokens:read"])
    await PersonalAccessToken.filter(id=row_id(body["access_token"])).delete()  # as prune-expired would
    renewed = await refresh(client, body["refresh_token"])
    assert renewed.status == 200
    token = await PersonalAccessToken.get(id=row_id(renewed.json()["access_token"]))
    assert (token.name, decode_abilities(token.abilities)) == ("tablet", ["tokens:read"])


# --- reuse detection and the grace window ----------------------------------------------------------------------


async def test_reuse_after_the_grace_window_revokes_the_whole_family(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_reuse_grace_seconds=0, refresh_throttle_seconds=0)
    first = await signed_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()
    assert await me_status(client, third["access_token"]) == 200  # cached from here on
    other_session = (await login(client, "ahmetyilmaz", "password123")).json()

    replayed = await refresh(client, first["refresh_token"])
    assert (replayed.status, replayed.body) == (401, UNAUTHENTICATED)
    assert replayed.headers["X-RateLimit-Limit"] == "60"  # a refresh attempt counts against the api limiter

    assert await me_status(client, third["access_token"]) == 401
    assert (await refresh(client, third["refresh_token"])).status == 401
    family = (await RefreshToken.get(id=row_id(first["refresh_token"]))).family
    rows = await RefreshToken.filter(family=family)
    assert len(rows) == 3 and all(row.revoked_at is not None and row.handoff is None for row in rows)
    issued = [row.access_token_id for row in rows]
    assert await PersonalAccessToken.filter(id__in=issued).count() == 0
    # Another sign-in of the same user is another family: untouched.
    assert await me_status(client, other_session["access_token"]) == 200
    assert (await refresh(client, other_session["refresh_token"])).status == 200


async def test_a_retry_within_the_grace_window_gets_the_same_pair(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    first = await signed_in(client)
    original = await refresh(client, first["refresh_token"])
    retried = await refresh(client, first["refresh_token"])  # the client lost the first answer
    assert (original.status, retried.status) == (200, 200)
    assert retried.json()["access_token"] == original.json()["access_token"]
    assert retried.json()["refresh_token"] == original.json()["refresh_token"]
    assert 3590 <= retried.json()["expires_in"] <= 3600
    assert len(await family_of(first["refresh_token"])) == 2
    assert await me_status(client, retried.json()["access_token"]) == 200

    # What the handoff keeps at rest is APP_KEY-encrypted, never the plain text.
    parent = await RefreshToken.get(id=row_id(first["refresh_token"]))
    assert parent.handoff is not None and original.json()["refresh_token"] not in parent.handoff
    decrypted = json.loads(client.app[SERVICES].encrypter.decrypt(parent.handoff))
    assert decrypted["refresh_token"] == original.json()["refresh_token"]


async def test_the_grace_window_ends_once_the_child_is_used(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_throttle_seconds=0)
    first = await signed_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()
    replayed = await refresh(client, first["refresh_token"])  # within 10 s, but the chain moved on
    assert (replayed.status, replayed.body) == (401, UNAUTHENTICATED)
    assert await me_status(client, third["access_token"]) == 401
    assert (await refresh(client, third["refresh_token"])).status == 401


async def test_the_handoff_is_cleared_once_the_window_has_passed(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_throttle_seconds=0)
    first = await signed_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    parent_id = row_id(first["refresh_token"])
    assert (await RefreshToken.get(id=parent_id)).handoff is not None
    await RefreshToken.filter(id=parent_id).update(used_at=utc_now() - timedelta(seconds=30))
    await refresh(client, second["refresh_token"])  # the family's next rotation sweeps it
    assert (await RefreshToken.get(id=parent_id)).handoff is None
    assert (await RefreshToken.get(id=row_id(second["refresh_token"]))).handoff is not None


async def test_the_handoff_timer_clears_it(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_reuse_grace_seconds=1)
    first = await signed_in(client)
    assert (await refresh(client, first["refresh_token"])).status == 200
    assert (await RefreshToken.get(id=row_id(first["refresh_token"]))).handoff is not None
    await asyncio.sleep(2.3)
    assert (await RefreshToken.get(id=row_id(first["refresh_token"]))).handoff is None


async def test_no_handoff_is_kept_in_strict_mode(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_reuse_grace_seconds=0)
    first = await signed_in(client)
    assert (await refresh(client, first["refresh_token"])).status == 200
    assert (await RefreshToken.get(id=row_id(first["refresh_token"]))).handoff is None


# --- races ---------------------------------------------------------------------------------------------------


async def test_concurrent_refreshes_yield_exactly_one_new_pair(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    first = await signed_in(client)
    responses = await asyncio.gather(*(refresh(client, first["refresh_token"]) for _ in range(RACERS)))
    assert [response.status for response in responses] == [200] * RACERS
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
    assert len(pairs) == 1
    assert len(await family_of(first["refresh_token"])) == 2  # the login's token and its one child
    (access_token, refresh_token), *_ = pairs
    assert await me_status(client, access_token) == 200
    assert (await refresh(client, refresh_token)).status in (200, 429)  # the child is live (maybe throttled)


async def test_concurrent_refreshes_in_strict_mode_have_exactly_one_winner(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_reuse_grace_seconds=0)
    first = await signed_in(client)
    responses = await asyncio.gather(*(refresh(client, first["refresh_token"]) for _ in range(RACERS)))
    statuses = sorted(response.status for response in responses)
    assert statuses == [200] + [401] * (RACERS - 1)
    assert all(r.body == UNAUTHENTICATED for r in responses if r.status == 401)
    assert len(await family_of(first["refresh_token"])) == 2
    # The duplicates are reuse in strict mode: the family is revoked, the winner's fresh pair with it.
    winner = next(response.json() for response in responses if response.status == 200)
    assert await me_status(client, winner["access_token"]) == 401
    assert (await refresh(client, winner["refresh_token"])).status == 401
    assert all(row.revoked_at is not None for row in await family_of(first["refresh_token"]))


# --- throttle ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "redis"])
async def test_one_rotation_per_family_per_window(make_client: ClientFactory, shared: bool) -> None:
    client = await refresh_client(
        make_client,
        refresh_throttle_seconds=3600,
        refresh_reuse_grace_seconds=0,
        redis_url=REDIS_URL if shared else None,
    )
    first = await signed_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    throttled = await refresh(client, second["refresh_token"])
    assert (throttled.status, throttled.body) == (429, b'{\n    "message": "Too Many Attempts."\n}')
    assert throttled.headers["X-RateLimit-Limit"] == "1"
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
    assert 3590 <= int(throttled.headers["Retry-After"]) <= 3600
    assert int(throttled.headers["X-RateLimit-Reset"]) > 0
    # Refused before it was used: the token is still live, and nothing was revoked.
    row = await RefreshToken.get(id=row_id(second["refresh_token"]))
    assert (row.used_at, row.revoked_at) == (None, None)
    assert await me_status(client, second["access_token"]) == 200
    # Another family (another sign-in) has its own budget.
    other = (await login(client, "ahmetyilmaz", "password123")).json()
    assert (await refresh(client, other["refresh_token"])).status == 200


async def test_a_grace_retry_is_not_throttled(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client, refresh_throttle_seconds=3600)
    first = await signed_in(client)
    original = await refresh(client, first["refresh_token"])
    retried = await refresh(client, first["refresh_token"])
    assert (original.status, retried.status) == (200, 200)
    assert retried.json()["refresh_token"] == original.json()["refresh_token"]


# --- refusals ------------------------------------------------------------------------------------------------


async def test_an_expired_refresh_token_is_refused(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client)
    await RefreshToken.filter(id=row_id(body["refresh_token"])).update(expires_at=utc_now() - timedelta(seconds=1))
    response = await refresh(client, body["refresh_token"])
    assert (response.status, response.body) == (401, UNAUTHENTICATED)
    row = await RefreshToken.get(id=row_id(body["refresh_token"]))
    assert (row.used_at, row.revoked_at) == (None, None)


async def test_logout_ends_the_refresh_token_too(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client)
    assert (await client.post("/api/logout", headers=bearer(body["access_token"]))).status == 200
    assert (await refresh(client, body["refresh_token"])).status == 401


async def test_a_deactivated_user_cannot_refresh(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client)
    await User.filter(username="ahmetyilmaz").update(is_active=False)
    assert (await refresh(client, body["refresh_token"])).status == 401
    await User.filter(username="ahmetyilmaz").update(is_active=True)
    assert (await refresh(client, body["refresh_token"])).status == 200  # refused before it was used


async def test_a_wrong_secret_for_a_real_id_is_refused_and_harmless(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client)
    forged = f"{row_id(body['refresh_token'])}|{'x' * 48}"
    assert (await refresh(client, forged)).status == 401
    assert (await refresh(client, body["access_token"])).status == 401  # an access token is not a refresh token
    assert (await refresh(client, body["refresh_token"])).status == 200


REQUIRED = {"refresh_token": ["The refresh token field is required."]}
NOT_A_STRING = {"refresh_token": ["The refresh token must be a string."]}


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        pytest.param({}, REQUIRED, id="missing"),
        pytest.param({"refresh_token": None}, REQUIRED, id="null"),
        pytest.param({"refresh_token": "   "}, REQUIRED, id="blank"),
        pytest.param({"refresh_token": 123}, NOT_A_STRING, id="number"),
        pytest.param({"refresh_token": True}, NOT_A_STRING, id="boolean"),
        pytest.param({"refresh_token": ["1|abc"]}, NOT_A_STRING, id="array"),
        pytest.param({"refresh_token": {"id": 1}}, NOT_A_STRING, id="object"),
        pytest.param(
            {"refresh_token": "1|a\u0000b"},
            {"refresh_token": ["The refresh token contains invalid characters."]},
            id="nul-byte",
        ),
    ],
)
async def test_invalid_input_is_a_laravel_422(make_client: ClientFactory, payload: Any, errors: Any) -> None:
    client = await refresh_client(make_client)
    response = await client.post("/api/refresh", json=payload, headers=JSON_HEADERS)
    assert response.status == 422
    assert response.json() == {"message": "The given data was invalid.", "errors": errors}


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param("garbage", id="bare-garbage"),
        pytest.param("1|", id="empty-secret"),
        pytest.param("|abc", id="empty-id"),
        pytest.param("0|abc", id="zero-id"),
        pytest.param("-1|abc", id="negative-id"),
        pytest.param("99999999999999999999|abc", id="id-beyond-bigint"),
        pytest.param("9223372036854775807|abc", id="largest-bigint"),
        pytest.param("1|" + "x" * 500_000, id="huge"),
        pytest.param("1|\u00e9\u4e2d\U0001f600", id="non-ascii"),
        pytest.param("abc|def", id="text-id"),
    ],
)
async def test_a_bad_refresh_token_is_401_never_500(make_client: ClientFactory, presented: str) -> None:
    client = await refresh_client(make_client)
    await signed_in(client)
    response = await refresh(client, presented)
    assert (response.status, response.body) == (401, UNAUTHENTICATED)


async def test_non_json_bodies_are_laravel_shaped(make_client: ClientFactory) -> None:
    client = await refresh_client(make_client)
    body = await signed_in(client)
    broken = await client.post("/api/refresh", data=b"{not json", headers={"Content-Type": "application/json"})
    assert (broken.status, broken.json()["errors"]) == (422, REQUIRED)
    form = await client.post("/api/refresh", data={"refresh_token": body["refresh_token"]})
    assert form.status == 200
