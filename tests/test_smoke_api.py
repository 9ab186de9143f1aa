"""The four routes of seed 004, end to end, on every backend."""

from __future__ import annotations

from tests.support.api import bearer, login, register
from tests.support.contract import ContractClient


async def test_register_login_me_logout(client: ContractClient) -> None:
    registered = (await register(client)).json()
    assert list(registered["data"]) == [
        "name",
        "surname",
        "username",
        "email",
        "updated_at",
        "created_at",
        "id",
    ]
    signed_in = await login(client, "ahmet@example.com", "password123")
    assert signed_in.status == 200
    token = signed_in.json()["access_token"]
    me = await client.get("/api/me", headers=bearer(token))
    assert me.status == 200
    assert me.json()["username"] == "ahmetyilmaz"
    out = await client.post("/api/logout", headers=bearer(token))
    assert out.body == b'{"message":"Logged out successfully"}'
    again = await client.get("/api/me", headers=bearer(token))
    assert (again.status, again.body) == (401, b'{"message":"Unauthenticated."}')
    other = await client.get("/api/me", headers=bearer(registered["access_token"]))
    assert other.status == 200
