"""GET /api/v1/auth/me and POST /api/v1/auth/logout: Bearer tokens, the generic 401 and the expired one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, User
from tests.conftest import ClientFactory
from tests.support.contract import ContractClient
from tests.v1.helpers import (
    BAD_REFRESH,
    EXPIRED_SESSION,
    INVALID_SESSION,
    LOGGED_OUT,
    assert_no_store,
    assert_too_many,
    bearer,
    expect,
    expected_user,
    me,
    post,
    registered,
    signed_in,
)

BAD_AUTHORIZATION = [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic a3VsbGFuaWNpMTIzOm15c2VjcmV0cGFzc3dvcmQ="},
    {"Authorization": "Bearer 1|wrong"},
    {"Authorization": "Bearer 99999|" + "a" * 48},
    {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Bearer |"},
]


async def expire(token_id: int) -> None:
    await PersonalAccessToken.filter(id=token_id).update(expires_at=utc_now() - timedelta(seconds=1))


# --- /me -----------------------------------------------------------------------------------------------


async def test_me_answers_the_user_json(client: ContractClient) -> None:
    await registered(client)
    token = (await signed_in(client))["token"]
    response = await me(client, token)
    expect(response, 200, await expected_user())
    assert_no_store(response)
    assert response.json()["last_login"] is not None


async def test_me_shows_the_role(client: ContractClient) -> None:
    await registered(client)
    await User.filter(username="kullanici123").update(role="staff")
    response = await me(client, (await signed_in(client))["token"])
    assert response.json()["role_id"] == 3


@pytest.mark.parametrize("headers", BAD_AUTHORIZATION)
async def test_me_without_a_valid_token_is_401(client: ContractClient, headers: dict[str, str]) -> None:
    await registered(client)
    response = await client.get("/api/v1/auth/me", headers=headers)
    expect(response, 401, INVALID_SESSION)
    assert "X-RateLimit-Limit" not in response.headers  # failed authentications are not counted


async def test_an_expired_token_is_told_to_log_in_again(make_client: ClientFactory) -> None:
    client = await make_client(token_cache="off")
    await registered(client)
    body = await signed_in(client)
    await expire(body["token_id"])
    expect(await me(client, body["token"]), 401, EXPIRED_SESSION)
    expect(await post(client, "logout", headers=bearer(body["token"])), 401, EXPIRED_SESSION)
    # a wrong secret for the same id is not "expired": it never was a session
    token_id = body["token"].split("|")[0]
    expect(await me(client, f"{token_id}|{'x' * 48}"), 401, INVALID_SESSION)


async def test_a_deactivated_users_token_is_401(make_client: ClientFactory) -> None:
    client = await make_client(token_cache="off")
    await registered(client)
    token = (await signed_in(client))["token"]
    await User.filter(username="kullanici123").update(is_active=False)
    expect(await me(client, token), 401, INVALID_SESSION)


async def test_a_deleted_users_token_is_401(make_client: ClientFactory) -> None:
    client = await make_client(token_cache="off")
    await registered(client)
    token = (await signed_in(client))["token"]
    await User.filter(username="kullanici123").delete()
    expect(await me(client, token), 401, INVALID_SESSION)


async def test_the_api_limit_on_me(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=3)
    await registered(client)
    token = (await signed_in(client))["token"]
    statuses = [(await me(client, token)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert_too_many(await me(client, token), at_most=60)


# --- /logout -------------------------------------------------------------------------------------------


async def test_logout_ends_the_token_and_its_refresh_session(client: ContractClient) -> None:
    await registered(client)
    body = await signed_in(client)
    other = await signed_in(client)
    response = await post(client, "logout", headers=bearer(body["token"]))
    expect(response, 200, LOGGED_OUT)
    assert not await PersonalAccessToken.filter(id=body["token_id"]).exists()
    expect(await me(client, body["token"]), 401, INVALID_SESSION)
    expect(await post(client, "logout", headers=bearer(body["token"])), 401, INVALID_SESSION)
    expect(await post(client, "refresh-token", {"refresh_token": body["refresh_token"]}), 401, BAD_REFRESH)
    # the user's other session lives on
    assert (await me(client, other["token"])).status == 200


async def test_logout_with_an_empty_json_body(client: ContractClient) -> None:
    """Clients often send `Content-Type: application/json` and no body: no body is empty input, not a 400."""
    await registered(client)
    token = (await signed_in(client))["token"]
    response = await post(client, "logout", data=b"", headers={**bearer(token), "Content-Type": "application/json"})
    expect(response, 200, LOGGED_OUT)


@pytest.mark.parametrize("headers", BAD_AUTHORIZATION)
async def test_logout_without_a_valid_token_is_401(client: ContractClient, headers: dict[str, str]) -> None:
    expect(await post(client, "logout", headers=headers), 401, INVALID_SESSION)
