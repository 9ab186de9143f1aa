"""POST /api/v1/auth/refresh-token: rotation, reuse detection, the grace window, the throttle, as
/api/refresh, and always on (whatever REFRESH_TOKENS says for the Laravel routes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import RefreshToken
from tests.conftest import ClientFactory
from tests.support.contract import ContractClient, WireResponse
from tests.v1.helpers import (
    BAD_REFRESH,
    INVALID_SESSION,
    NOT_AN_OBJECT,
    assert_no_store,
    assert_token_view,
    assert_too_many,
    bad_characters,
    expect,
    id_of,
    invalid,
    me,
    not_string,
    post,
    registered,
    required,
    signed_in,
    wire,
)


async def refresh(client: ContractClient, token: Any) -> WireResponse:
    return await post(client, "refresh-token", {"refresh_token": token})


async def fresh(make_client: ClientFactory, **overrides: Any) -> tuple[ContractClient, dict[str, Any]]:
    client = await make_client(**{"refresh_throttle_seconds": 0, **overrides})
    await registered(client)
    return client, await signed_in(client)


async def test_refresh_answers_a_new_pair(make_client: ClientFactory) -> None:
    client, first = await fresh(make_client)
    assert (await me(client, first["token"])).status == 200
    response = await refresh(client, first["refresh_token"])
    assert response.status == 200, response.text
    second = response.json()
    await assert_token_view(second)
    assert response.body == wire(second)
    assert_no_store(response)
    assert second["token"] != first["token"] and second["refresh_token"] != first["refresh_token"]
    assert (await me(client, second["token"])).status == 200
    expect(await me(client, first["token"]), 401, INVALID_SESSION)  # the old access token is revoked
    # the chain goes on
    third = await refresh(client, second["refresh_token"])
    assert third.status == 200, third.text


async def test_works_with_the_laravel_refresh_routes_off_and_on(make_client: ClientFactory) -> None:
    for setting in (False, True):
        client = await make_client(refresh_tokens=setting, refresh_throttle_seconds=0)
        name = f"user{int(setting)}"
        await registered(client, username=name, email=f"{name}@example.com")
        body = await signed_in(client, name)
        assert (await refresh(client, body["refresh_token"])).status == 200


async def test_within_the_grace_window_the_same_pair_comes_back(make_client: ClientFactory) -> None:
    client, first = await fresh(make_client)
    one = await refresh(client, first["refresh_token"])
    two = await refresh(client, first["refresh_token"])
    assert one.status == two.status == 200
    assert (one.json()["token"], one.json()["refresh_token"]) == (two.json()["token"], two.json()["refresh_token"])


async def test_reuse_revokes_the_whole_family(make_client: ClientFactory) -> None:
    client, first = await fresh(make_client, refresh_reuse_grace_seconds=0)
    second = (await refresh(client, first["refresh_token"])).json()
    expect(await refresh(client, first["refresh_token"]), 401, BAD_REFRESH)  # reuse
    expect(await refresh(client, second["refresh_token"]), 401, BAD_REFRESH)  # the family is gone
    expect(await me(client, second["token"]), 401, INVALID_SESSION)


async def test_one_rotation_per_family_per_30_seconds(make_client: ClientFactory) -> None:
    client = await make_client()  # REFRESH_THROTTLE_SECONDS' default, 30
    await registered(client)
    first = await signed_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    assert_too_many(await refresh(client, second["refresh_token"]), at_most=30)
    # a throttled token stays usable: it is not spent
    assert (await RefreshToken.get(id=id_of(second["refresh_token"]))).used_at is None


@pytest.mark.parametrize(
    "token",
    ["1|nope", "nope", "|", "99999|" + "a" * 48, "7|" + "x" * 5000],  # no length rule: just not a token
)
async def test_unknown_refresh_tokens_are_401(client: ContractClient, token: str) -> None:
    await registered(client)
    await signed_in(client)
    expect(await refresh(client, token), 401, BAD_REFRESH)


async def test_an_access_token_is_not_a_refresh_token(client: ContractClient) -> None:
    await registered(client)
    body = await signed_in(client)
    expect(await refresh(client, body["token"]), 401, BAD_REFRESH)


async def test_an_expired_refresh_token_is_401(client: ContractClient) -> None:
    await registered(client)
    body = await signed_in(client)
    await RefreshToken.filter(id=id_of(body["refresh_token"])).update(expires_at=utc_now() - timedelta(seconds=1))
    expect(await refresh(client, body["refresh_token"]), 401, BAD_REFRESH)


async def test_the_refresh_token_lives_refresh_token_days(make_client: ClientFactory) -> None:
    client = await make_client(refresh_token_days=2)
    await registered(client)
    body = await signed_in(client)
    row = await RefreshToken.get(id=id_of(body["refresh_token"]))
    days = (row.expires_at - utc_now()) / timedelta(days=1)
    assert 1.99 <= days <= 2


VALIDATION: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, invalid(required("refresh_token"))),
    ({"refresh_token": ""}, invalid(required("refresh_token"))),
    ({"refresh_token": None}, invalid(required("refresh_token"))),
    ({"refresh_token": 12}, invalid(not_string("refresh_token"))),
    ({"refresh_token": ["1|x"]}, invalid(not_string("refresh_token"))),
    ({"refresh_token": "1|a\u0000b"}, invalid(bad_characters("refresh_token"))),
]


@pytest.mark.parametrize(("body", "expected"), VALIDATION)
async def test_validation(client: ContractClient, body: dict[str, Any], expected: dict[str, Any]) -> None:
    expect(await post(client, "refresh-token", body), 422, expected)


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"1|x"'])
async def test_a_body_that_is_not_a_json_object_is_400(client: ContractClient, raw: bytes) -> None:
    response = await post(client, "refresh-token", data=raw, headers={"Content-Type": "application/json"})
    expect(response, 400, NOT_AN_OBJECT)
