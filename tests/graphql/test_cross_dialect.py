"""One core, several wires: a GraphQL JWT works on /api/me and /api/v1/auth/me, a Sanctum or v1 token works on
the `me` query; `logout` refuses a pair that does not belong together and ends both tokens on every dialect."""

from __future__ import annotations

from tests.conftest import ClientFactory
from tests.graphql.helpers import EMAIL, ME, PASSWORD, SEED_REFRESH, codes, gql, logout, seed_user, sign_in
from tests.support.api import bearer, login
from tests.support.contract import ContractClient


async def test_a_graphql_jwt_is_a_bearer_token_on_every_dialect(client: ContractClient) -> None:
    await seed_user(client)
    access, _ = await sign_in(client)
    laravel = await client.get("/api/me", headers=bearer(access))
    assert laravel.status == 200 and laravel.json()["email"] == EMAIL
    again = await client.get("/api/me", headers=bearer(access))  # the cached path
    assert again.status == 200 and again.body == laravel.body
    v1 = await client.get("/api/v1/auth/me", headers=bearer(access))
    assert v1.status == 200 and v1.json()["email"] == EMAIL


async def test_sanctum_and_v1_tokens_work_on_the_me_query(client: ContractClient) -> None:
    await seed_user(client)
    sanctum = (await login(client, EMAIL, PASSWORD)).json()["access_token"]
    v1 = await client.post("/api/v1/auth/login", json={"username": EMAIL, "password": PASSWORD})
    for token in (sanctum, v1.json()["token"]):
        response = await gql(client, ME, token=token)
        assert response.json()["data"]["me"]["email"] == EMAIL, response.text


async def test_logout_ends_both_tokens_on_every_dialect(client: ContractClient) -> None:
    await seed_user(client)
    access, refresh = await sign_in(client)
    assert (await client.get("/api/me", headers=bearer(access))).status == 200  # cached now
    assert (await logout(client, access, refresh)).json()["data"]["logout"]["success"] is True
    assert (await client.get("/api/me", headers=bearer(access))).status == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(access))).status == 401
    assert codes(await gql(client, ME, token=access)) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, SEED_REFRESH, {"refreshToken": refresh})) == ["INVALID_TOKENS"]
    v1_refresh = await client.post("/api/v1/auth/refresh-token", json={"refresh_token": refresh})
    assert v1_refresh.status == 401


async def test_logout_refuses_a_pair_that_does_not_belong_together(make_client: ClientFactory) -> None:
    client = await make_client(graphql_logout_throttle_seconds=0)
    await seed_user(client)
    first_access, first_refresh = await sign_in(client)
    second_access, second_refresh = await sign_in(client)
    assert codes(await logout(client, first_access, second_refresh)) == ["INVALID_TOKENS"]
    assert codes(await logout(client, first_access, first_access)) == ["INVALID_TOKENS"]
    assert codes(await logout(client, "x", first_refresh)) == ["INVALID_TOKENS"]
    refused = await logout(client, second_access, first_refresh)
    assert refused.json()["errors"][0]["message"] == "Geçersiz token'lar."
    # Nothing was revoked by the refusals.
    for access in (first_access, second_access):
        assert (await client.get("/api/me", headers=bearer(access))).status == 200
    assert (await logout(client, first_access, first_refresh)).json()["data"]["logout"]["success"] is True
    assert (await client.get("/api/me", headers=bearer(first_access))).status == 401
    assert (await client.get("/api/me", headers=bearer(second_access))).status == 200


async def test_a_v1_session_can_log_out_through_graphql(make_client: ClientFactory) -> None:
    client = await make_client(graphql_logout_throttle_seconds=0)
    await seed_user(client)
    v1 = (await client.post("/api/v1/auth/login", json={"username": EMAIL, "password": PASSWORD})).json()
    assert (await logout(client, v1["token"], v1["refresh_token"])).json()["data"]["logout"]["success"] is True
    assert (await client.get("/api/v1/auth/me", headers=bearer(v1["token"]))).status == 401


async def test_a_tampered_or_foreign_jwt_is_refused(make_client: ClientFactory) -> None:
    client = await make_client()
    await seed_user(client)
    access, _ = await sign_in(client)
    header, payload, signature = access.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert (await client.get("/api/me", headers=bearer(tampered))).status == 401
    other = await make_client(app_key="base64:" + "A" * 43 + "=")  # another APP_KEY signs other JWTs
    assert (await other.get("/api/me", headers=bearer(access))).status == 401  # its key does not verify ours
