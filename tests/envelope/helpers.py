"""Helpers for the envelope dialect's wire tests (seed 003, /api/auth): exact bodies with normalised values.

A response body is checked byte for byte: it must be compact UTF-8 JSON (Turkish letters as they are),
and once its volatile values (the envelope's timestamp, tokens, user times) are checked against their
formats and replaced by placeholders, equal to the expected body *with the same key order*.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sanctum_py.db.models import User
from tests.support.contract import ContractClient, WireResponse
from tests.support.db import query, stored_time

BASE = "/api/auth"
ENVELOPE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
USER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TOKEN = re.compile(r"^(?P<id>[1-9][0-9]*)\|(?P<secret>[A-Za-z0-9]{40,})$")
TS = "<timestamp>"
TOK = "<token>"
USER_KEYS = [
    "id",
    "username",
    "email",
    "firstName",
    "lastName",
    "role",
    "isActive",
    "lastLogin",
    "createdAt",
    "updatedAt",
]

PASSWORD = "Sifre12345!"
TENANT = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"
OTHER_TENANT = "00000000-0000-4000-8000-000000000000"
SEED_USER = {"tenantId": TENANT, "username": "ayse", "email": "ayse@example.com", "password": PASSWORD, "role": "user"}

BAD_CREDENTIALS = "Kullanıcı adı veya şifre hatalı"
INVALID_SESSION = "Oturum geçersiz, lütfen tekrar giriş yapın"
BAD_REFRESH = "Yenileme tokenı geçersiz veya süresi dolmuş"
FORBIDDEN = "Bu işlem için yetkiniz yok"
BAD_RESET = "Şifre sıfırlama bağlantısı geçersiz veya süresi dolmuş"
TOO_MANY = re.compile(r"^Çok fazla deneme\. Lütfen (?P<seconds>[0-9]+) saniye sonra tekrar deneyin$")


def wire(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def normalise(node: Any, key: str | None = None) -> Any:
    """Check every volatile value's format and replace it by a placeholder (key order kept)."""
    if isinstance(node, dict):
        return {k: normalise(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [normalise(v) for v in node]
    if key == "timestamp":
        assert isinstance(node, str) and ENVELOPE_TIME.fullmatch(node), node
        return TS
    if key in ("token", "refreshToken") and isinstance(node, str) and TOKEN.fullmatch(node):
        return TOK
    if key in ("createdAt", "updatedAt", "lastLogin") and node is not None:
        assert isinstance(node, str) and USER_TIME.fullmatch(node), node
        return TS
    return node


def expect(response: WireResponse, status: int, body: Any) -> Any:
    """Exact status, compact bytes, the normalised body equal to `body` in key order; the parsed body."""
    assert response.status == status, (response.status, response.text)
    parsed = response.json()
    assert response.body == wire(parsed), response.text  # compact, Turkish letters unescaped
    assert wire(normalise(parsed)) == wire(body), response.text
    assert response.headers["Content-Type"].split(";", 1)[0].strip() == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return parsed


def ok(message: str, data: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data, "pagination": None, "timestamp": TS}


def failed(kind: str, message: str, path: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "type": kind, "message": message}
    if errors is not None:
        body["errors"] = errors
    body.update(timestamp=TS, path=path)
    return body


def field(name: str, code: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message, "code": code}


def user(
    id_: int,
    username: str = "ayse",
    email: str = "ayse@example.com",
    role: str = "user",
    *,
    first: str | None = None,
    last: str | None = None,
    last_login: bool = True,
) -> dict[str, Any]:
    return {
        "id": str(id_),
        "username": username,
        "email": email,
        "firstName": first,
        "lastName": last,
        "role": role,
        "isActive": True,
        "lastLogin": TS if last_login else None,
        "createdAt": TS,
        "updatedAt": TS,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(client: ContractClient, route: str, body: Any = None, **kwargs: Any) -> WireResponse:
    if body is not None:
        kwargs["json"] = body
    return await client.post(f"{BASE}/{route}", **kwargs)


async def register(client: ContractClient, headers: dict[str, str] | None = None, **fields: Any) -> WireResponse:
    body = {**SEED_USER, **fields}
    return await post(client, "register", {k: v for k, v in body.items() if v is not ...}, headers=headers)


async def registered(client: ContractClient, **fields: Any) -> dict[str, Any]:
    response = await register(client, **fields)
    assert response.status == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def login(client: ContractClient, username: str = "ayse", password: str = PASSWORD, **more: Any) -> WireResponse:
    return await post(client, "login", {"tenantId": TENANT, "username": username, "password": password, **more})


async def signed_in(client: ContractClient, username: str = "ayse") -> dict[str, Any]:
    response = await login(client, username)
    assert response.status == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def make_admin(client: ContractClient) -> str:
    await registered(client, username="boss", email="boss@example.com")
    await User.filter(username="boss").update(role="admin")
    return str((await signed_in(client, "boss"))["token"])


async def user_row(username: str = "ayse") -> dict[str, Any]:
    [row] = await query("SELECT * FROM users WHERE username = {}", username)
    return row


def user_time(value: Any) -> str | None:
    return None if value is None else stored_time(value).replace(" ", "T") + "Z"
