"""Tokens as devices: /sanctum/token, device names and abilities, listing and revoking tokens."""

from __future__ import annotations

import json

from sanctum_py.db.models import PersonalAccessToken
from sanctum_py.http.laravel.handlers.devices import CREDENTIALS_INCORRECT
from tests.support.api import JSON_HEADERS, bearer, register
from tests.support.contract import ContractClient


async def sign_in(client: ContractClient, **extra: object) -> str:
    body = {"login": "ahmetyilmaz", "password": "password123", **extra}
    response = await client.post("/api/login", json=body, headers=JSON_HEADERS)
    assert response.status == 200, response.text
    return str(response.json()["access_token"])


async def test_sanctum_token_answers_the_bare_token(client: ContractClient) -> None:
    await register(client)
    body = {"email": "ahmet@example.com", "password": "password123", "device_name": "Ahmet's iPhone"}
    response = await client.post("/sanctum/token", json=body)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    token = response.text
    assert token.split("|")[0].isdigit()
    row = await PersonalAccessToken.get(id=int(token.split("|")[0]))
    assert (row.name, row.abilities) == ("Ahmet's iPhone", '["*"]')
    assert (await client.get("/api/me", headers=bearer(token))).status == 200


async def test_sanctum_token_failures(client: ContractClient) -> None:
    await register(client)
    wrong = {"email": "ahmet@example.com", "password": "nope-nope", "device_name": "x"}
    response = await client.post("/sanctum/token", json=wrong)
    assert (response.status, response.json()["errors"]) == (422, {"email": ["The provided credentials are incorrect."]})
    missing = await client.post("/sanctum/token", json={"email": "not-an-email"})
    assert missing.json()["errors"] == {
        "email": ["The email must be a valid email address."],
        "password": ["The password field is required."],
        "device_name": ["The device name field is required."],
    }


async def test_sanctum_token_password_of_any_json_type(client: ContractClient) -> None:
    """The Laravel docs' rules say only `required`: Hash::check casts a number or a boolean to a string,
    so 12345678 is the password "12345678"; an array (PHP's TypeError, a 500) is wrong credentials here.
    Found by tests/test_fuzz_contract.py (it was a 500)."""
    await register(client, password="12345678", password_confirmation="12345678")
    as_number = {"email": "ahmet@example.com", "password": 12345678, "device_name": "x"}
    response = await client.post("/sanctum/token", json=as_number)
    assert response.status == 200, response.text
    for password in ([None, None], {"a": "12345678"}, ["12345678"], False, 12345678.5):
        wrong = {**as_number, "password": password}
        response = await client.post("/sanctum/token", json=wrong)
        assert (response.status, response.json()["errors"]) == (422, {"email": [CREDENTIALS_INCORRECT]}), password


async def test_login_takes_device_name_and_abilities(client: ContractClient) -> None:
    await register(client)
    token = await sign_in(client, device_name="tablet", abilities=["tokens:read"])
    row = await PersonalAccessToken.get(id=int(token.split("|")[0]))
    assert (row.name, json.loads(row.abilities or "")) == ("tablet", ["tokens:read"])
    listed = await client.get("/api/tokens", headers=bearer(token))
    assert listed.status == 200
    denied = await client.delete(f"/api/tokens/{row.id}", headers=bearer(token))
    assert denied.status == 403
    assert denied.body == b'{\n    "message": "Invalid ability provided."\n}'
    assert "X-RateLimit-Remaining" in denied.headers  # route middleware runs after the throttle


async def test_bad_device_fields_are_validation_errors(client: ContractClient) -> None:
    await register(client)
    body = {"login": "ahmetyilmaz", "password": "password123", "abilities": "all", "remember_me": "maybe"}
    response = await client.post("/api/login", json=body, headers=JSON_HEADERS)
    assert response.status == 422
    assert response.json()["errors"] == {
        "remember_me": ["The remember me field must be true or false."],
        "abilities": ["The abilities must be an array of strings."],
    }


async def test_list_and_revoke_tokens(client: ContractClient) -> None:
    first = (await register(client)).json()["access_token"]
    second = await sign_in(client, device_name="laptop")
    listed = (await client.get("/api/tokens", headers=bearer(second))).json()["data"]
    assert [(t["name"], t["current"], t["abilities"]) for t in listed] == [
        ("auth_token", False, ["*"]),
        ("laptop", True, ["*"]),
    ]
    revoked = await client.delete(f"/api/tokens/{listed[0]['id']}", headers=bearer(second))
    assert (revoked.status, revoked.json()) == (200, {"message": "Token revoked."})
    assert (await client.get("/api/me", headers=bearer(first))).status == 401
    assert (await client.get("/api/me", headers=bearer(second))).status == 200


async def test_another_users_token_is_not_found(client: ContractClient) -> None:
    mine = (await register(client)).json()["access_token"]
    theirs = (await register(client, username="other", email="other@example.com")).json()["access_token"]
    their_id = theirs.split("|")[0]
    for raw_id in (their_id, "999999", "abc", "1e3"):
        response = await client.delete(f"/api/tokens/{raw_id}", headers=bearer(mine))
        assert response.status == 404
        assert response.json() == {
            "message": f"No query results for model [Laravel\\Sanctum\\PersonalAccessToken] {raw_id}"
        }
    assert (await client.get("/api/me", headers=bearer(theirs))).status == 200


async def test_logout_all(client: ContractClient) -> None:
    first = (await register(client)).json()["access_token"]
    second = await sign_in(client)
    third = await sign_in(client)
    kept = await client.post("/api/logout-all", json={"except_current": True}, headers=bearer(third))
    assert (kept.status, kept.json()) == (200, {"message": "Logged out from all devices."})
    assert [(await client.get("/api/me", headers=bearer(t))).status for t in (first, second, third)] == [401, 401, 200]
    await client.post("/api/logout-all", headers=bearer(third))
    assert (await client.get("/api/me", headers=bearer(third))).status == 401


async def test_revoking_devices_ends_their_refresh_tokens(make_client: object) -> None:
    client: ContractClient = await make_client(refresh_tokens=True, refresh_reuse_grace_seconds=0)  # type: ignore[operator]
    await register(client)
    sessions = []
    for _ in range(3):
        body = {"login": "ahmetyilmaz", "password": "password123"}
        sessions.append((await client.post("/api/login", json=body, headers=JSON_HEADERS)).json())
    first, second, third = sessions
    revoked = await client.delete(
        f"/api/tokens/{first['access_token'].split('|')[0]}", headers=bearer(third["access_token"])
    )
    assert revoked.status == 200
    assert (await client.post("/api/refresh", json={"refresh_token": first["refresh_token"]})).status == 401
    await client.post("/api/logout-all", json={"except_current": True}, headers=bearer(third["access_token"]))
    assert (await client.post("/api/refresh", json={"refresh_token": second["refresh_token"]})).status == 401
    assert (await client.post("/api/refresh", json={"refresh_token": third["refresh_token"]})).status == 200
