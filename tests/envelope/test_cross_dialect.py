"""One core behind every wire: an envelope token works on /api/me (Laravel) and /api/v1/auth/me, their
tokens work on /api/auth/me, and a logout in any dialect ends the token in all of them."""

from __future__ import annotations

from tests.envelope.helpers import BASE, PASSWORD, bearer, post, registered, signed_in
from tests.support.contract import ContractClient

LARAVEL_ME = "/api/me"
V1_ME = "/api/v1/auth/me"
ENVELOPE_ME = f"{BASE}/me"
EVERY_ME = (LARAVEL_ME, V1_ME, ENVELOPE_ME)


async def statuses(client: ContractClient, token: str) -> list[int]:
    return [(await client.get(path, headers=bearer(token))).status for path in EVERY_ME]


async def test_an_envelope_token_works_everywhere_and_its_logout_ends_it_everywhere(client: ContractClient) -> None:
    token = (await registered(client))["token"]
    assert await statuses(client, token) == [200, 200, 200]
    assert (await client.post(f"{BASE}/logout", headers=bearer(token))).status == 204
    assert await statuses(client, token) == [401, 401, 401]


async def test_other_dialects_tokens_work_here_and_their_logouts_end_them_here(client: ContractClient) -> None:
    await registered(client)
    laravel = await client.post("/api/login", json={"login": "ayse", "password": PASSWORD})
    assert laravel.status == 200, laravel.text
    laravel_token = laravel.json()["access_token"]
    v1 = await client.post("/api/v1/auth/login", json={"username": "ayse", "password": PASSWORD})
    assert v1.status == 200, v1.text
    v1_token = v1.json()["token"]
    assert await statuses(client, laravel_token) == [200, 200, 200]
    assert await statuses(client, v1_token) == [200, 200, 200]
    assert (await client.post("/api/logout", headers=bearer(laravel_token))).status == 200
    assert await statuses(client, laravel_token) == [401, 401, 401]
    assert (await client.post("/api/v1/auth/logout", headers=bearer(v1_token))).status == 200
    assert await statuses(client, v1_token) == [401, 401, 401]


async def test_a_v1_logout_ends_the_envelope_refresh_token(client: ContractClient) -> None:
    await registered(client)
    session = await signed_in(client)
    assert (await client.post("/api/v1/auth/logout", headers=bearer(session["token"]))).status == 200
    assert (await post(client, "refresh", {"refreshToken": session["refreshToken"]})).status == 401
