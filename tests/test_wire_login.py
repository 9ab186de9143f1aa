"""POST /api/login on the wire: `login` is an email or a username; failures are one indistinguishable 422."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from aiohttp import FormData

from sanctum_py.core.hashing import hash_password_sync
from sanctum_py.db.models import User
from tests.support.api import JSON_HEADERS, register, registration
from tests.support.contract import ContractClient, WireResponse
from tests.support.db import json_time, query

TOKEN = re.compile(r"(?P<id>[1-9][0-9]*)\|(?P<secret>[A-Za-z0-9]{40}[0-9a-f]{8})")
INVALID_CREDENTIALS = b'{"message":"The given data was invalid.","errors":{"login":["Invalid credentials."]}}'


async def sign_in(client: ContractClient, login: Any, password: Any) -> WireResponse:
    return await client.post("/api/login", json={"login": login, "password": password}, headers=JSON_HEADERS)


async def token_count() -> int:
    return len(await query("SELECT id FROM personal_access_tokens"))


# --- success -------------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["ahmet@example.com", "ahmetyilmaz"])
async def test_login_body_is_byte_exact(client: ContractClient, login: str) -> None:
    await register(client)
    response = await sign_in(client, login, "password123")

    assert response.status == 200
    user = (await query("SELECT * FROM users WHERE username = {}", "ahmetyilmaz"))[0]
    token = TOKEN.fullmatch(response.json()["access_token"])
    assert token is not None, response.text
    expected = (
        f'{{"data":{{"id":{user["id"]},"name":"Ahmet","surname":"Y\\u0131lmaz","username":"ahmetyilmaz",'
        f'"email":"ahmet@example.com","email_verified_at":null,"created_at":"{json_time(user["created_at"])}",'
        f'"updated_at":"{json_time(user["updated_at"])}"}},"access_token":"{token.group(0)}","token_type":"Bearer"}}'
    )
    assert response.body == expected.encode()
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # register and login share the anonymous per-IP budget
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("60", "58")
    row = (await query("SELECT * FROM personal_access_tokens WHERE id = {}", int(token.group("id"))))[0]
    assert row["token"] == hashlib.sha256(token.group("secret").encode()).hexdigest()
    assert row["tokenable_id"] == user["id"]


async def test_every_login_issues_a_new_token(client: ContractClient) -> None:
    registered = (await register(client)).json()["access_token"]
    first = (await sign_in(client, "ahmetyilmaz", "password123")).json()["access_token"]
    second = (await sign_in(client, "ahmet@example.com", "password123")).json()["access_token"]
    assert len({registered, first, second}) == 3
    ids = [int(token.split("|")[0]) for token in (registered, first, second)]
    assert ids == sorted(ids)
    assert await token_count() == 3


async def test_login_body_matches_me(client: ContractClient) -> None:
    await register(client)
    signed_in = (await sign_in(client, "ahmetyilmaz", "password123")).json()
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {signed_in['access_token']}"})
    assert me.body == json.dumps(signed_in["data"], separators=(",", ":")).replace("ı", "\\u0131").encode()


async def test_form_encoded_login(client: ContractClient) -> None:
    await register(client)
    response = await client.post(
        "/api/login",
        data=b"login=ahmetyilmaz&password=password123",
        headers={**JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200, response.text
    assert response.json()["data"]["username"] == "ahmetyilmaz"


async def test_form_encoded_login_by_email_with_percent_escapes(client: ContractClient) -> None:
    await register(client)
    response = await client.post(
        "/api/login",
        data=b"login=ahmet%40example.com&password=password123",
        headers={**JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status == 200, response.text


async def test_multipart_login(client: ContractClient) -> None:
    await register(client)
    form = FormData()
    form.add_field("login", "ahmet@example.com")
    form.add_field("password", "password123")
    response = await client.post("/api/login", data=form, headers=JSON_HEADERS)
    assert response.status == 200, response.text


async def test_login_from_query_string(client: ContractClient) -> None:
    await register(client)
    response = await client.post("/api/login?login=ahmetyilmaz&password=password123", headers=JSON_HEADERS)
    assert response.status == 200, response.text


async def test_login_is_trimmed_but_password_is_not(client: ContractClient) -> None:
    await register(client)
    assert (await sign_in(client, "  ahmetyilmaz\t", "password123")).status == 200
    assert (await sign_in(client, "ahmetyilmaz", " password123")).body == INVALID_CREDENTIALS


@pytest.mark.parametrize("login", ["AHMET@EXAMPLE.COM", "AhmetYilmaz"])
async def test_login_ignores_case(client: ContractClient, login: str) -> None:
    # Deliberate: lookups are case-insensitive on every database (Laravel: MySQL yes, PostgreSQL no).
    await register(client)
    response = await sign_in(client, login, "password123")
    assert response.status == 200, response.text
    assert response.json()["data"]["username"] == "ahmetyilmaz"


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("ahmet@example.com", "wrong-password"),
        ("ahmetyilmaz", "wrong-password"),
        ("nobody@example.com", "password123"),
        ("nobody", "password123"),
        ("ahmetyilmaz", "PASSWORD123"),
        ("ahmetyilmaz", "password12"),
        ("ahmet", "password123"),  # a prefix is not a match
        ("%", "password123"),  # no LIKE wildcards
        ("ahmet@example.com' OR '1'='1", "password123"),
        ("Yılmaz", "password123"),  # the surname is not a login
        ("1", "password123"),  # nor the id
    ],
)
async def test_wrong_password_and_unknown_user_are_indistinguishable(
    client: ContractClient, login: str, password: str
) -> None:
    await register(client)
    response = await sign_in(client, login, password)
    assert response.status == 422
    assert response.body == INVALID_CREDENTIALS
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-RateLimit-Remaining"] == "58"
    assert "Cache-Control" not in response.headers or response.headers["Cache-Control"] != "no-store"
    assert await token_count() == 1  # only the registration's


def required(*fields: str) -> dict[str, list[str]]:
    return {field: [f"The {field} field is required."] for field in fields}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, required("login", "password")),
        ({"login": "", "password": ""}, required("login", "password")),
        ({"login": "   ", "password": "   "}, required("login", "password")),  # a blank password is not trimmed,
        ({"login": None, "password": None}, required("login", "password")),  # but `required` trims it
        ({"login": "ahmetyilmaz"}, required("password")),
        ({"password": "password123"}, required("login")),
        ({"login": [], "password": {}}, required("login", "password")),
        ({"login": 123, "password": 12345678}, {"login": ["The login must be a string."],
                                                 "password": ["The password must be a string."]}),
        ({"login": ["ahmetyilmaz"], "password": "password123"}, {"login": ["The login must be a string."]}),
        ({"login": {"a": 1}, "password": True}, {"login": ["The login must be a string."],
                                                  "password": ["The password must be a string."]}),
        ({"login": "ahmetyilmaz", "password": False}, {"password": ["The password must be a string."]}),
        ({"login": "ahm\u0000et", "password": "password123"}, {"login": ["The login contains invalid characters."]}),
    ],
)  # fmt: skip
async def test_login_validation(client: ContractClient, body: dict[str, Any], errors: dict) -> None:
    await register(client)
    response = await client.post("/api/login", json=body, headers=JSON_HEADERS)
    assert response.status == 422
    expected = {"message": "The given data was invalid.", "errors": errors}
    assert response.body == json.dumps(expected, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b'["ahmetyilmaz", "password123"]', "application/json"),
        (b'{"login": "ahmetyilmaz", "password": "password123"}', None),
        (b'{"login": "ahmetyilmaz", "password": "password123"}', "text/plain"),
    ],
)
async def test_unreadable_bodies_are_empty_input(client: ContractClient, body: bytes, content_type: str | None):
    await register(client)
    kwargs: dict[str, Any] = {"data": body, "headers": dict(JSON_HEADERS)}
    if content_type is None:
        kwargs["skip_auto_headers"] = ["Content-Type"]
    else:
        kwargs["headers"]["Content-Type"] = content_type
    response = await client.post("/api/login", **kwargs)
    assert response.body == (
        b'{"message":"The given data was invalid.","errors":{"login":["The login field is required."],'
        b'"password":["The password field is required."]}}'
    )


async def test_invalid_utf8_in_a_form_password_is_a_422(client: ContractClient) -> None:
    await register(client)
    response = await client.post(
        "/api/login",
        data=b"login=ahmetyilmaz&password=%FFpassword",
        headers={**JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 422
    assert response.json()["errors"] == {"password": ["The password contains invalid characters."]}


# --- bcrypt's 72-byte horizon ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "attempt", "ok"),
    [
        ("a" * 72 + "registered-tail", "a" * 72 + "another-tail", True),  # only 72 bytes count
        ("a" * 72 + "registered-tail", "a" * 72, True),
        ("a" * 72 + "registered-tail", "a" * 71, False),
        ("ş" * 40, "ş" * 36, True),  # 2 bytes each: 36 of them are the first 72 bytes
        ("ş" * 40, "ş" * 36 + "x", True),
        ("ş" * 40, "ş" * 35, False),
        ("😀" * 20, "😀" * 18, True),  # 4 bytes each
        ("😀" * 20, "😀" * 17 + "abcd", False),
        ("pässwörd-ünïcode", "pässwörd-ünïcode", True),
        ("pässwörd-ünïcode", "passwörd-ünïcode", False),
    ],
)
async def test_long_and_multibyte_passwords(client: ContractClient, password: str, attempt: str, ok: bool) -> None:
    """Hashes written by Laravel from passwords over 72 bytes (registration here refuses them now, on
    purpose): they verify as PHP verifies them, on the first 72 bytes."""
    await register(client)
    await User.filter(username="ahmetyilmaz").update(password=hash_password_sync(password, 4))
    response = await sign_in(client, "ahmetyilmaz", attempt)
    assert response.status == (200 if ok else 422), response.text
    if not ok:
        assert response.body == INVALID_CREDENTIALS


async def test_email_of_one_user_equal_to_username_of_another(client: ContractClient) -> None:
    await register(client)
    second = registration(username="ahmet@example.org", email="second@example.com", password="second-password",
                          password_confirmation="second-password")  # fmt: skip
    assert (await client.post("/api/register", json=second, headers=JSON_HEADERS)).status == 201
    response = await sign_in(client, "ahmet@example.org", "second-password")
    assert response.status == 200
    assert response.json()["data"]["email"] == "second@example.com"
