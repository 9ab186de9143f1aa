"""Seed 002's limits: 5 failed logins per 60 s then TOO_MANY_ATTEMPTS; 1 refresh per 30 s; 1 logout per 30 s;
shared across workers through Redis when REDIS_URL is set."""

from __future__ import annotations

import secrets

from tests.conftest import REDIS_URL, ClientFactory
from tests.graphql.helpers import AUTH_VARS, EMAIL, PASSWORD, SEED_REFRESH, codes, gql, logout, seed_user, sign_in
from tests.support.api import register
from tests.support.contract import ContractClient


async def test_five_failed_logins_then_a_minute_of_too_many_attempts(client: ContractClient) -> None:
    await seed_user(client)
    for _ in range(5):
        assert codes(await gql(client, AUTH_VARS, {"u": EMAIL, "p": "wrong-password"})) == ["INVALID_CREDENTIALS"]
    refused = await gql(client, AUTH_VARS, {"u": EMAIL, "p": PASSWORD})  # even the right password now
    assert codes(refused) == ["TOO_MANY_ATTEMPTS"]
    error = refused.json()["errors"][0]
    assert error["message"] == "Çok fazla başarısız giriş denemesi."
    assert 50 <= error["extensions"]["retryAfter"] <= 60
    assert refused.json()["data"] == {"auth": None}


async def test_one_refresh_per_thirty_seconds(make_client: ClientFactory) -> None:
    # Grace 0: a second presentation of the spent token is reuse, so the throttle is seen on the child.
    client = await make_client(refresh_reuse_grace_seconds=0)
    await seed_user(client)
    _, refresh = await sign_in(client)
    first = await gql(client, SEED_REFRESH, {"refreshToken": refresh})
    child = first.json()["data"]["refreshToken"]["tokens"]["refreshToken"]
    refused = await gql(client, SEED_REFRESH, {"refreshToken": child})
    assert codes(refused) == ["TOO_MANY_ATTEMPTS"]
    assert 25 <= refused.json()["errors"][0]["extensions"]["retryAfter"] <= 30
    assert refused.json()["errors"][0]["message"] == "Çok sık yenileme denemesi."


async def test_one_logout_per_thirty_seconds(client: ContractClient) -> None:
    await seed_user(client)
    first = await sign_in(client)
    second = await sign_in(client)
    assert (await logout(client, *first)).json()["data"]["logout"]["success"] is True
    refused = await logout(client, *second)
    assert codes(refused) == ["TOO_MANY_ATTEMPTS"]
    assert refused.json()["errors"][0]["message"] == "Çok sık çıkış denemesi."
    assert 25 <= refused.json()["errors"][0]["extensions"]["retryAfter"] <= 30


async def test_the_limits_are_shared_between_workers_through_redis(make_client: ClientFactory) -> None:
    prefix = f"sanctum_test_graphql_{secrets.token_hex(6)}:"  # one namespace per test, shared by both workers
    one = await make_client(redis_url=REDIS_URL, redis_prefix=prefix)
    two = await make_client(redis_url=REDIS_URL, redis_prefix=prefix)
    await seed_user(one)
    for worker in (one, two, one, two, one):
        assert codes(await gql(worker, AUTH_VARS, {"u": EMAIL, "p": "wrong-password"})) == ["INVALID_CREDENTIALS"]
    assert codes(await gql(two, AUTH_VARS, {"u": EMAIL, "p": PASSWORD})) == ["TOO_MANY_ATTEMPTS"]
    tokens = await sign_in_other(one)
    assert (await logout(one, *tokens)).json()["data"]["logout"]["success"] is True
    assert codes(await logout(two, *tokens)) == ["TOO_MANY_ATTEMPTS"]


async def sign_in_other(client: ContractClient) -> tuple[str, str]:
    """A second account (the first is locked out by now)."""
    await register(client, email="other@example.com", username="other")
    return await sign_in(client, "other@example.com", "password123")
