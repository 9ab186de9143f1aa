"""Seed 002's requests verbatim on POST /graphql: auth, refreshToken, logout; the tokens are JWTs backed by
their rows (sha256 of the whole JWT in `token`, `jti` the row id); 1 h access, 7 d refresh."""

from __future__ import annotations

import hashlib

from sanctum_py.db.models import PersonalAccessToken, RefreshToken
from tests.conftest import ClientFactory
from tests.graphql.helpers import (
    EMAIL,
    JWT,
    LOGGED_OUT,
    ME,
    SEED_AUTH,
    SEED_LOGOUT,
    SEED_REFRESH,
    USERNAME,
    claims,
    codes,
    gql,
    seed_user,
    sign_in,
)
from tests.support.contract import ContractClient


async def test_the_seeds_auth_request_answers_the_seeds_shape(client: ContractClient) -> None:
    await seed_user(client)
    response = await gql(client, SEED_AUTH)
    assert response.status == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert list(body) == ["data"]
    tokens = body["data"]["auth"]["tokens"]
    assert list(tokens) == ["accessToken", "refreshToken"]
    access, refresh = tokens["accessToken"], tokens["refreshToken"]
    assert JWT.match(access) and JWT.match(refresh)  # {"typ":"JWT","alg":"HS256"}, as the seed's example
    access_claims, refresh_claims = claims(access), claims(refresh)
    assert access_claims["typ"] == "access" and refresh_claims["typ"] == "refresh"
    assert access_claims["exp"] - access_claims["iat"] == 3600  # 1 hour
    assert refresh_claims["exp"] - refresh_claims["iat"] == 7 * 24 * 3600  # 7 days
    # Each JWT is its row: jti is the id, the row keeps sha256 of the whole JWT.
    row = await PersonalAccessToken.get(id=int(access_claims["jti"]))
    assert row.token == hashlib.sha256(access.encode()).hexdigest()
    assert str(row.tokenable_id) == access_claims["sub"]
    refresh_row = await RefreshToken.get(id=int(refresh_claims["jti"]))
    assert refresh_row.token == hashlib.sha256(refresh.encode()).hexdigest()
    assert refresh_row.access_token_id == row.id


async def test_login_by_username_works_too(client: ContractClient) -> None:
    await seed_user(client)
    access, _ = await sign_in(client, USERNAME)
    me = await gql(client, ME, token=access)
    assert me.json()["data"]["me"]["email"] == EMAIL


async def test_the_seeds_refresh_mutation_rotates_with_reuse_detection(client: ContractClient) -> None:
    await seed_user(client)
    access, refresh = await sign_in(client)
    rotated = await gql(client, SEED_REFRESH, {"refreshToken": refresh})
    assert rotated.status == 200, rotated.text
    tokens = rotated.json()["data"]["refreshToken"]["tokens"]
    assert JWT.match(tokens["accessToken"]) and JWT.match(tokens["refreshToken"])
    assert tokens["refreshToken"] != refresh
    assert codes(await gql(client, ME, token=access)) == ["UNAUTHENTICATED"]  # the old access token ended
    assert (await gql(client, ME, token=tokens["accessToken"])).json()["data"]["me"]["username"] == USERNAME


async def test_refresh_reuse_after_the_grace_revokes_the_family(make_client: ClientFactory) -> None:
    client = await make_client(refresh_reuse_grace_seconds=0, refresh_throttle_seconds=0)
    await seed_user(client)
    _, refresh = await sign_in(client)
    new = (await gql(client, SEED_REFRESH, {"refreshToken": refresh})).json()["data"]["refreshToken"]["tokens"]
    assert codes(await gql(client, SEED_REFRESH, {"refreshToken": refresh})) == ["INVALID_TOKENS"]  # reuse
    assert codes(await gql(client, ME, token=new["accessToken"])) == ["UNAUTHENTICATED"]  # the family is dead
    assert codes(await gql(client, SEED_REFRESH, {"refreshToken": new["refreshToken"]})) == ["INVALID_TOKENS"]


async def test_the_seeds_logout_request_ends_both_tokens(client: ContractClient) -> None:
    await seed_user(client)
    access, refresh = await sign_in(client)
    response = await gql(client, SEED_LOGOUT.replace("ACCESS", access).replace("REFRESH", refresh))
    assert response.status == 200, response.text
    assert response.json() == LOGGED_OUT
    assert response.text == '{"data":{"logout":{"success":true,"message":"Çıkış işlemi başarılı."}}}'
    assert codes(await gql(client, ME, token=access)) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, SEED_REFRESH, {"refreshToken": refresh})) == ["INVALID_TOKENS"]


async def test_me_answers_the_user(client: ContractClient) -> None:
    await seed_user(client)
    access, _ = await sign_in(client)
    response = await gql(client, ME, token=access)
    me = response.json()["data"]["me"]
    assert me == {
        "id": claims(access)["sub"],
        "username": USERNAME,
        "email": EMAIL,
        "name": "Ahmet",
        "surname": "Yılmaz",
        "role": "user",
        "emailVerified": False,
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert codes(await gql(client, ME)) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, ME, token="1|nope")) == ["UNAUTHENTICATED"]
