"""One core: a token from any dialect works on every dialect's authenticated routes; a logout on one is a 401 on all."""

from __future__ import annotations

from tests.support.api import bearer as laravel_bearer
from tests.support.api import login as laravel_login
from tests.support.contract import ContractClient
from tests.v1.helpers import BAD_REFRESH, INVALID_SESSION, LOGGED_OUT, bearer, expect, me, post, registered, signed_in


async def test_a_laravel_token_works_on_v1_me(client: ContractClient) -> None:
    await registered(client)
    token = (await laravel_login(client, "kullanici123", "mysecretpassword")).json()["access_token"]
    assert (await me(client, token)).status == 200


async def test_a_v1_token_works_on_api_me(client: ContractClient) -> None:
    await registered(client)
    token = (await signed_in(client))["token"]
    assert (await client.get("/api/me", headers=laravel_bearer(token))).status == 200


async def test_v1_logout_is_a_401_on_api_me(client: ContractClient) -> None:
    await registered(client)
    body = await signed_in(client)
    expect(await post(client, "logout", headers=bearer(body["token"])), 200, LOGGED_OUT)
    assert (await client.get("/api/me", headers=laravel_bearer(body["token"]))).status == 401
    expect(await post(client, "refresh-token", {"refresh_token": body["refresh_token"]}), 401, BAD_REFRESH)


async def test_laravel_logout_is_a_401_on_v1_me(client: ContractClient) -> None:
    await registered(client)
    token = (await laravel_login(client, "kullanici123", "mysecretpassword")).json()["access_token"]
    assert (await client.post("/api/logout", headers=laravel_bearer(token))).status == 200
    expect(await me(client, token), 401, INVALID_SESSION)
