"""Helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from tests.support.contract import ContractClient, WireResponse

JSON_HEADERS = {"Accept": "application/json"}


def registration(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Ahmet",
        "surname": "Yılmaz",
        "username": "ahmetyilmaz",
        "email": "ahmet@example.com",
        "password": "password123",
        "password_confirmation": "password123",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


async def register(client: ContractClient, **overrides: Any) -> WireResponse:
    response = await client.post("/api/register", json=registration(**overrides), headers=JSON_HEADERS)
    assert response.status == 201, response.text
    return response


async def login(client: ContractClient, login: str, password: str) -> WireResponse:
    return await client.post("/api/login", json={"login": login, "password": password}, headers=JSON_HEADERS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON_HEADERS}
