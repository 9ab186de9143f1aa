"""POST /api/v1/auth/register (seed 001): 200 with the user JSON and no token, 409, 403, 422."""

from __future__ import annotations

from typing import Any

import pytest

from sanctum_py.core.hashing import hash_password_sync
from sanctum_py.db.models import PersonalAccessToken, User
from tests.support.contract import ContractClient
from tests.support.db import query
from tests.v1.helpers import (
    ALREADY_REGISTERED,
    FORBIDDEN,
    NOT_AN_OBJECT,
    PASSWORD,
    SEED_USER,
    TIMESTAMP,
    USER_KEYS,
    assert_no_store,
    bad_characters,
    bad_email,
    bad_role,
    bearer,
    expect,
    expected_user,
    invalid,
    login,
    make_admin,
    not_integer,
    not_string,
    post,
    register,
    registered,
    required,
    too_long,
    too_many_bytes,
    too_short,
)


async def user_count() -> int:
    return len(await query("SELECT id FROM users"))


# --- success -------------------------------------------------------------------------------------------


async def test_register_answers_seed_001s_user_json(client: ContractClient) -> None:
    response = await register(client)
    expected = await expected_user()
    assert expected["last_login"] is None
    assert (expected["name"], expected["last_name"], expected["role_id"]) == ("John", "Doe", 2)
    assert TIMESTAMP.fullmatch(expected["created_at"]) and TIMESTAMP.fullmatch(expected["updated_at"])
    expect(response, 200, expected)
    assert list(response.json()) == USER_KEYS
    assert_no_store(response)  # it carries a user
    assert b"password" not in response.body and b"$2y$" not in response.body
    assert await PersonalAccessToken.all().count() == 0  # no token at registration (the seed returns none)

    user = await User.get(username="kullanici123")
    assert (user.name, user.surname, user.role, user.is_active) == ("John", "Doe", "user", True)
    assert user.password.startswith("$2y$") and user.password != PASSWORD
    assert (await login(client, "kullanici123")).status == 200


async def test_name_and_last_name_are_optional(client: ContractClient) -> None:
    response = await register(client, name=..., last_name=...)
    body = response.json()
    assert (body["name"], body["last_name"]) == (None, None)
    expect(response, 200, await expected_user())
    user = await User.get(username="kullanici123")
    assert (user.name, user.surname) == ("", None)  # Laravel's NOT NULL users.name holds ""


@pytest.mark.parametrize("blank", ["", "   ", None])
async def test_blank_optional_fields_are_null(client: ContractClient, blank: Any) -> None:
    response = await register(client, name=blank, last_name=blank)
    assert response.status == 200, response.text
    assert (response.json()["name"], response.json()["last_name"]) == (None, None)


async def test_turkish_letters_are_written_as_they_are(client: ContractClient) -> None:
    response = await register(client, name="Şükrü", last_name="Yılmaz")
    assert response.status == 200, response.text
    assert '"name":"Şükrü","last_name":"Yılmaz"'.encode() in response.body


async def test_input_is_trimmed(client: ContractClient) -> None:
    response = await register(client, username="  kullanici123 ", email=" kullanici123@example.com\t")
    assert response.status == 200, response.text
    assert (response.json()["username"], response.json()["email"]) == ("kullanici123", "kullanici123@example.com")


async def test_password_hash_is_the_plain_password_under_the_seeds_name(client: ContractClient) -> None:
    response = await register(client, password=..., password_hash="another-secret-1")
    assert response.status == 200, response.text
    assert b"another-secret-1" not in response.body
    assert (await login(client, "kullanici123", "another-secret-1")).status == 200


async def test_password_hash_is_never_taken_as_a_hash(client: ContractClient) -> None:
    """A client that hashed the password itself gets that string as its password, hashed again."""
    client_side_hash = hash_password_sync("real-password", 4)
    response = await register(client, password=..., password_hash=client_side_hash)
    assert response.status == 200, response.text
    stored = (await User.get(username="kullanici123")).password
    assert stored != client_side_hash
    assert (await login(client, "kullanici123", "real-password")).status == 401
    assert (await login(client, "kullanici123", client_side_hash)).status == 200


@pytest.mark.parametrize("user_id", [1, 999_999, "x", None])
async def test_user_id_is_ignored(client: ContractClient, user_id: Any) -> None:
    first = await registered(client, username="first", email="first@example.com")
    taken = first["user_id"] if user_id == 1 else user_id  # an id that exists
    response = await register(client, user_id=taken)
    assert response.status == 200, response.text
    assert response.json()["user_id"] not in (first["user_id"], taken)
    assert (await User.get(id=first["user_id"])).username == "first"


@pytest.mark.parametrize("role_id", [2, "2", " 2 "])
async def test_anyone_may_ask_for_the_user_role(client: ContractClient, role_id: Any) -> None:
    response = await register(client, role_id=role_id)
    assert response.status == 200, response.text
    assert response.json()["role_id"] == 2
    assert (await User.get(username="kullanici123")).role == "user"


# --- 409 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "someone-else"},  # the email is taken
        {"email": "else@example.com"},  # the username is taken
        {"email": "KULLANICI123@EXAMPLE.COM", "username": "someone-else"},  # case does not make it new
        {"username": "kullanici123@example.com", "email": "else@example.com"},  # a username equal to an email
        {"username": "else", "email": "taken@example.org"},  # an email equal to a username (below)
    ],
)
async def test_taken_email_or_username_is_409(client: ContractClient, fields: dict[str, str]) -> None:
    await registered(client)
    await registered(client, username="taken@example.org", email="third@example.com")
    before = await user_count()
    response = await register(client, **fields)
    expect(response, 409, ALREADY_REGISTERED)
    assert await user_count() == before


# --- 403: roles other than 2 need an admin -------------------------------------------------------------


@pytest.mark.parametrize("role_id", [1, 3, "1", "3"])
async def test_anonymous_callers_cannot_choose_another_role(client: ContractClient, role_id: Any) -> None:
    expect(await register(client, role_id=role_id), 403, FORBIDDEN)
    assert await user_count() == 0


async def test_a_users_token_cannot_choose_another_role(client: ContractClient) -> None:
    await registered(client, username="plain", email="plain@example.com")
    token = (await login(client, "plain")).json()["token"]
    for role_id in (1, 3):
        expect(await register(client, role_id=role_id, headers=bearer(token)), 403, FORBIDDEN)
    expect(await register(client, role_id=1, headers=bearer("1|not-a-real-token")), 403, FORBIDDEN)
    assert not await User.filter(username="kullanici123").exists()


@pytest.mark.parametrize(("role_id", "role"), [(1, "admin"), (3, "staff"), (2, "user"), ("3", "staff")])
async def test_an_admin_chooses_any_role(client: ContractClient, role_id: Any, role: str) -> None:
    admin = await make_admin(client)
    response = await register(client, role_id=role_id, headers=bearer(admin))
    assert response.status == 200, response.text
    assert response.json()["role_id"] == int(role_id)
    expect(response, 200, await expected_user())
    assert (await User.get(username="kullanici123")).role == role


# --- 422 -----------------------------------------------------------------------------------------------

PASSWORD_72_BYTES = "ş" * 36  # 72 bytes of UTF-8
VALIDATION: list[tuple[dict[str, Any], dict[str, Any]]] = [
    # missing
    ({"username": ..., "email": ..., "password": ...},
     invalid(required("username"), required("email"), required("password"))),
    ({"username": ...}, invalid(required("username"))),
    ({"email": ...}, invalid(required("email"))),
    ({"password": ...}, invalid(required("password"))),
    ({"username": "", "email": "  ", "password": None},
     invalid(required("username"), required("email"), required("password"))),
    # wrong types
    ({"username": 123}, invalid(not_string("username"))),
    ({"email": ["kullanici123@example.com"]}, invalid(not_string("email"))),
    ({"password": 12345678}, invalid(not_string("password"))),
    ({"name": True}, invalid(not_string("name"))),
    ({"last_name": {"a": "b"}}, invalid(not_string("last_name"))),
    ({"role_id": "admin"}, invalid(not_integer("role_id"))),
    ({"role_id": 2.5}, invalid(not_integer("role_id"))),
    ({"role_id": [2]}, invalid(not_integer("role_id"))),
    # formats and lengths (seed 001: username varchar(50), email, name, last_name varchar(100))
    ({"email": "not-an-email"}, invalid(bad_email())),
    ({"username": "u" * 51}, invalid(too_long("username", 50))),
    ({"email": "e" * 89 + "@example.com"}, invalid(too_long("email", 100))),
    ({"name": "n" * 101}, invalid(too_long("name", 100))),
    ({"last_name": "l" * 101}, invalid(too_long("last_name", 100))),
    ({"password": "short"}, invalid(too_short("password", 8))),
    ({"password": PASSWORD_72_BYTES + "x"}, invalid(too_many_bytes("password"))),
    # NUL bytes
    ({"username": "kull\u0000anici"}, invalid(bad_characters("username"))),
    ({"email": "kullanici\u0000@example.com"}, invalid(bad_characters("email"))),
    ({"password": "mysecret\u0000password"}, invalid(bad_characters("password"))),
    ({"name": "Jo\u0000hn"}, invalid(bad_characters("name"))),
    ({"last_name": "D\u0000oe"}, invalid(bad_characters("last_name"))),
    # several at once: fields in rule order, the first one is `error`
    ({"username": 1, "email": "x", "password": "short", "name": "n" * 101, "last_name": False},
     invalid(not_string("username"), bad_email(), too_short("password", 8), too_long("name", 100),
             not_string("last_name"))),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "expected"), VALIDATION)
async def test_register_validation(client: ContractClient, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    expect(await register(client, **fields), 422, expected)
    assert await user_count() == 0


async def test_limits_are_inclusive(client: ContractClient) -> None:
    response = await register(
        client,
        username="u" * 50,
        email="e" * 88 + "@example.com",
        name="n" * 100,
        last_name="l" * 100,
        password=PASSWORD_72_BYTES,
    )
    assert response.status == 200, response.text


async def test_password_hash_errors_name_the_field_sent(client: ContractClient) -> None:
    expect(await register(client, password=..., password_hash="short"), 422, invalid(too_short("password_hash", 8)))


async def test_role_id_must_be_a_role(client: ContractClient) -> None:
    admin = await make_admin(client)
    for role_id in (0, 4, 7, -1, "9"):
        response = await register(client, role_id=role_id, headers=bearer(admin))
        expect(response, 422, invalid(bad_role()))


# --- bodies --------------------------------------------------------------------------------------------


async def test_form_encoded_registration(client: ContractClient) -> None:
    response = await post(client, "register", data=dict(SEED_USER))
    assert response.status == 200, response.text
    expect(response, 200, await expected_user())


@pytest.mark.parametrize("raw", [b"{", b'{"username": "x",}', b"[]", b'["kullanici123"]', b'"x"', b"1", b"null"])
async def test_a_body_that_is_not_a_json_object_is_400(client: ContractClient, raw: bytes) -> None:
    response = await post(client, "register", data=raw, headers={"Content-Type": "application/json"})
    expect(response, 400, NOT_AN_OBJECT)
