"""POST /api/register on the wire: Laravel 8's exact bytes for success and for every validation failure.

Expected bodies are written out literally (or with the standard library's json, never with the
project's own encoder), so each test pins the bytes a Laravel client receives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import zlib
from typing import Any

import pytest
from aiohttp import FormData
from tortoise import connections

from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS, registration
from tests.support.contract import ContractClient, WireResponse
from tests.support.db import query, stored_time

TOKEN = re.compile(r"(?P<id>[1-9][0-9]*)\|(?P<secret>(?P<entropy>[A-Za-z0-9]{40})(?P<crc>[0-9a-f]{8}))")
INVALID = "The given data was invalid."
LONG = "x" * 10_000


# --- helpers -------------------------------------------------------------------------------------


def as_json_time(stored: str) -> str:
    """Carbon's toJSON of a stored timestamp: microseconds are never stored, so always `.000000Z`."""
    return stored.replace(" ", "T") + ".000000Z"


def invalid(errors: dict[str, list[str]]) -> bytes:
    """Laravel's 422 body; the messages used here contain no `/` and no non-ASCII, so the standard
    library's compact ASCII JSON is byte-identical to PHP's json_encode."""
    return json.dumps({"message": INVALID, "errors": errors}, separators=(",", ":")).encode()


async def post_json(client: ContractClient, body: Any) -> WireResponse:
    return await client.post("/api/register", json=body, headers=JSON_HEADERS)


async def post_raw(client: ContractClient, body: bytes, content_type: str | None, path: str = "/api/register"):
    headers = dict(JSON_HEADERS)
    if content_type is None:
        return await client.post(path, data=body, headers=headers, skip_auto_headers=["Content-Type"])
    headers["Content-Type"] = content_type
    return await client.post(path, data=body, headers=headers)


async def user_row(username: str) -> dict[str, Any]:
    rows = await query("SELECT * FROM users WHERE username = {}", username)
    assert len(rows) == 1, rows
    return rows[0]


async def count_users() -> int:
    return len(await query("SELECT id FROM users"))


# --- success -------------------------------------------------------------------------------------


async def test_created_body_is_byte_exact(client: ContractClient) -> None:
    response = await post_json(client, registration())

    assert response.status == 201
    row = await user_row("ahmetyilmaz")
    created, updated = stored_time(row["created_at"]), stored_time(row["updated_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", created)
    token = TOKEN.fullmatch(response.json()["access_token"])
    assert token is not None, response.text
    expected = (
        '{"data":{"name":"Ahmet","surname":"Y\\u0131lmaz","username":"ahmetyilmaz","email":"ahmet@example.com",'
        f'"updated_at":"{as_json_time(updated)}","created_at":"{as_json_time(created)}","id":{row["id"]}}},'
        f'"access_token":"{token.group(0)}","token_type":"Bearer"}}'
    )
    assert response.body == expected.encode()
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("60", "59")
    assert "X-RateLimit-Reset" not in response.headers
    assert "Retry-After" not in response.headers


async def test_token_is_sanctum_format_and_only_its_sha256_is_stored(client: ContractClient) -> None:
    response = await post_json(client, registration())
    token = TOKEN.fullmatch(response.json()["access_token"])
    assert token is not None
    entropy, crc, secret = token.group("entropy"), token.group("crc"), token.group("secret")
    assert crc == f"{zlib.crc32(entropy.encode()):08x}"
    rows = await query("SELECT * FROM personal_access_tokens")
    assert len(rows) == 1
    row = rows[0]
    assert str(row["id"]) == token.group("id")
    assert row["token"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(row, default=str)
    assert row["tokenable_type"] == "App\\Models\\User"
    assert row["tokenable_id"] == response.json()["data"]["id"]
    assert row["name"] == "auth_token"
    assert json.loads(row["abilities"]) == ["*"]
    assert row["last_used_at"] is None
    user = await user_row("ahmetyilmaz")
    assert user["password"].startswith("$2y$")
    assert user["remember_token"] is None and user["email_verified_at"] is None


async def test_each_registration_gets_the_next_ids(client: ContractClient) -> None:
    first = (await post_json(client, registration())).json()
    second = (await post_json(client, registration(username="other", email="other@example.com"))).json()
    assert second["data"]["id"] > first["data"]["id"]
    first_token_id = int(first["access_token"].split("|")[0])
    assert int(second["access_token"].split("|")[0]) > first_token_id
    assert first["access_token"] != second["access_token"]


@pytest.mark.parametrize(
    ("surname", "expected"),
    [
        (..., "null"),  # omitted: User::create gets $request->surname === null
        ("", "null"),  # ConvertEmptyStringsToNull
        ("   ", "null"),  # TrimStrings, then ConvertEmptyStringsToNull
        (None, "null"),
        ("  Öztürk ", '"\\u00d6zt\\u00fcrk"'),
    ],
)
async def test_optional_surname(client: ContractClient, surname: Any, expected: str) -> None:
    response = await post_json(client, registration(surname=surname))
    assert response.status == 201, response.text
    assert f'"name":"Ahmet","surname":{expected},"username":"ahmetyilmaz"'.encode() in response.body
    stored = (await user_row("ahmetyilmaz"))["surname"]
    assert stored == (None if expected == "null" else "Öztürk")


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("Şükrü Çağlar", "\\u015e\\u00fckr\\u00fc \\u00c7a\\u011flar"),  # lowercase hex, as PHP writes it
        ("Emoji 😀", "Emoji \\ud83d\\ude00"),  # astral: a UTF-16 surrogate pair
        ("AC/DC", "AC\\/DC"),  # json_encode escapes slashes by default
        ('Quote " and \\ back', 'Quote \\" and \\\\ back'),
        ("tab\there", "tab\\there"),
        ("<b>&'</b>", "<b>&'<\\/b>"),  # no HTML escaping without JSON_HEX_* flags
        ("日本語", "\\u65e5\\u672c\\u8a9e"),
    ],
)
async def test_php_json_encoding_of_names(client: ContractClient, name: str, wire: str) -> None:
    response = await post_json(client, registration(name=name))
    assert response.status == 201, response.text
    assert response.body.startswith(f'{{"data":{{"name":"{wire}","surname":'.encode())
    assert (await user_row("ahmetyilmaz"))["name"] == name


async def test_slash_in_email_is_escaped(client: ContractClient) -> None:
    response = await post_json(client, registration(email="a/b@example.com"))
    assert response.status == 201, response.text
    assert b'"email":"a\\/b@example.com"' in response.body


async def test_leading_and_trailing_blanks_are_trimmed_but_not_in_passwords(client: ContractClient) -> None:
    body = registration(
        name=" \t Ahmet \n",
        username="  ahmetyilmaz  ",
        email="  ahmet@example.com\r\n",
        password="  password123  ",
        password_confirmation="  password123  ",
    )
    response = await post_json(client, body)
    assert response.status == 201, response.text
    data = response.json()["data"]
    assert (data["name"], data["username"], data["email"]) == ("Ahmet", "ahmetyilmaz", "ahmet@example.com")
    trimmed = await client.post("/api/login", json={"login": "ahmetyilmaz", "password": "password123"})
    assert trimmed.status == 422
    exact = await client.post("/api/login", json={"login": "ahmetyilmaz", "password": "  password123  "})
    assert exact.status == 200


async def test_form_encoded_body(client: ContractClient) -> None:
    form = "name=Ahmet&surname=Y%C4%B1lmaz&username=ahmetyilmaz&email=ahmet%40example.com"
    form += "&password=password123&password_confirmation=password123"
    response = await post_raw(client, form.encode(), "application/x-www-form-urlencoded")
    assert response.status == 201, response.text
    assert response.json()["data"]["surname"] == "Yılmaz"


async def test_multipart_body(client: ContractClient) -> None:
    form = FormData()
    for key, value in registration().items():
        form.add_field(key, value)
    response = await client.post("/api/register", data=form, headers=JSON_HEADERS)
    assert response.status == 201, response.text
    assert response.json()["data"]["username"] == "ahmetyilmaz"


async def test_query_string_fills_in_what_the_body_lacks(client: ContractClient) -> None:
    body = registration(name=..., surname=...)
    response = await client.post("/api/register?name=Query&surname=Q&username=ignored", json=body, headers=JSON_HEADERS)
    assert response.status == 201, response.text
    data = response.json()["data"]
    # `$request->input()` = body + query: the query only adds keys the body does not have.
    assert (data["name"], data["surname"], data["username"]) == ("Query", "Q", "ahmetyilmaz")


async def test_query_string_alone_is_input(client: ContractClient) -> None:
    query_string = "name=Ahmet&username=ahmetyilmaz&email=ahmet%40example.com"
    query_string += "&password=password123&password_confirmation=password123"
    response = await post_raw(client, b"", None, path=f"/api/register?{query_string}")
    assert response.status == 201, response.text


async def test_multibyte_characters_count_as_one_toward_max(client: ContractClient) -> None:
    name = "ş" * 254 + "😀"  # 255 characters, 511 bytes in UTF-8
    response = await post_json(client, registration(name=name))
    assert response.status == 201, response.text
    assert (await user_row("ahmetyilmaz"))["name"] == name
    too_long = await post_json(client, registration(name=name + "ş", username="u2", email="u2@example.com"))
    assert too_long.body == invalid({"name": ["The name must not be greater than 255 characters."]})


TOO_LONG = ["The password must not be greater than 72 bytes."]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("x" * 73, id="73-ascii"),
        pytest.param("ş" * 37, id="37-chars-74-bytes"),
        pytest.param("😀" * 19, id="19-chars-76-bytes"),
        pytest.param("pässwörd-" * 8, id="72-chars-88-bytes"),
        pytest.param(LONG, id="10000"),
    ],
)
async def test_passwords_over_72_bytes_are_refused(client: ContractClient, password: str) -> None:
    """Deliberate difference (ASVS 2.1.3): bcrypt reads 72 bytes, so a longer password would be cut
    silently (Laravel accepts it). Bytes of UTF-8, not characters."""
    response = await post_json(client, registration(password=password, password_confirmation=password))
    assert response.body == invalid({"password": TOO_LONG})
    assert await count_users() == 0
    mismatched = await post_json(client, registration(password=password, password_confirmation="other"))
    assert mismatched.body == invalid({"password": ["The password confirmation does not match.", *TOO_LONG]})


@pytest.mark.parametrize("password", ["x" * 72, "ş" * 36, "😀" * 18])
async def test_passwords_of_72_bytes_are_accepted(client: ContractClient, password: str) -> None:
    response = await post_json(client, registration(password=password, password_confirmation=password))
    assert response.status == 201, response.text


# --- validation ----------------------------------------------------------------------------------

REQUIRED_ALL = {
    "name": ["The name field is required."],
    "username": ["The username field is required."],
    "email": ["The email field is required."],
    "password": ["The password field is required."],
}


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param({"name": ...}, {"name": ["The name field is required."]}, id="name-missing"),
        pytest.param({"name": ""}, {"name": ["The name field is required."]}, id="name-empty"),
        pytest.param({"name": "   "}, {"name": ["The name field is required."]}, id="name-blank"),
        pytest.param({"name": None}, {"name": ["The name field is required."]}, id="name-null"),
        pytest.param({"name": []}, {"name": ["The name field is required."]}, id="name-empty-array"),
        pytest.param({"name": "\u0000"}, {"name": ["The name field is required."]}, id="name-nul-trimmed"),
        pytest.param({"name": 123}, {"name": ["The name must be a string."]}, id="name-int"),
        pytest.param({"name": 1.5}, {"name": ["The name must be a string."]}, id="name-float"),
        pytest.param({"name": True}, {"name": ["The name must be a string."]}, id="name-true"),
        pytest.param({"name": False}, {"name": ["The name must be a string."]}, id="name-false"),
        pytest.param({"name": ["Ahmet"]}, {"name": ["The name must be a string."]}, id="name-array"),
        pytest.param({"name": {"a": "b"}}, {"name": ["The name must be a string."]}, id="name-object"),
        pytest.param({"name": LONG}, {"name": ["The name must not be greater than 255 characters."]}, id="name-10000"),
        pytest.param(
            {"name": ["x"] * 256},
            {"name": ["The name must be a string.", "The name must not have more than 255 items."]},
            id="name-256-items",
        ),
        pytest.param({"surname": 5}, {"surname": ["The surname must be a string."]}, id="surname-int"),
        pytest.param({"surname": []}, {"surname": ["The surname must be a string."]}, id="surname-array"),
        pytest.param(
            {"surname": LONG},
            {"surname": ["The surname must not be greater than 255 characters."]},
            id="surname-10000",
        ),
        pytest.param({"username": ...}, {"username": ["The username field is required."]}, id="username-missing"),
        pytest.param({"username": False}, {"username": ["The username must be a string."]}, id="username-false"),
        pytest.param(
            {"username": LONG},
            {"username": ["The username must not be greater than 255 characters."]},
            id="username-10000",
        ),
        pytest.param({"email": ...}, {"email": ["The email field is required."]}, id="email-missing"),
        pytest.param(
            {"email": 123},
            {"email": ["The email must be a string.", "The email must be a valid email address."]},
            id="email-int",
        ),
        pytest.param(
            {"email": ["a@b.c"]},
            {"email": ["The email must be a string.", "The email must be a valid email address."]},
            id="email-array",
        ),
        pytest.param(
            {"email": "a" * 244 + "@example.com"},
            {"email": ["The email must not be greater than 255 characters."]},
            id="email-256",
        ),
        pytest.param(
            {"email": LONG},
            {
                "email": [
                    "The email must be a valid email address.",
                    "The email must not be greater than 255 characters.",
                ]
            },
            id="email-10000",
        ),
        pytest.param({"password": ...}, {"password": ["The password field is required."]}, id="password-missing"),
        pytest.param(
            {"password": "        ", "password_confirmation": "        "},
            {"password": ["The password field is required."]},
            id="password-blank-untrimmed",
        ),
        pytest.param(
            {"password": "short", "password_confirmation": "short"},
            {"password": ["The password must be at least 8 characters."]},
            id="password-short",
        ),
        pytest.param(
            {"password": "short", "password_confirmation": "other"},
            {
                "password": [
                    "The password must be at least 8 characters.",
                    "The password confirmation does not match.",
                ]
            },
            id="password-short-and-mismatched",
        ),
        pytest.param(
            {"password_confirmation": ...},
            {"password": ["The password confirmation does not match."]},
            id="confirmation-missing",
        ),
        pytest.param(
            {"password_confirmation": "password124"},
            {"password": ["The password confirmation does not match."]},
            id="confirmation-mismatch",
        ),
        pytest.param(
            {"password_confirmation": "password123 "},
            {"password": ["The password confirmation does not match."]},
            id="confirmation-not-trimmed",
        ),
        pytest.param(
            {"password": 12345678, "password_confirmation": 12345678},
            {"password": ["The password must be a string."]},
            id="password-int",
        ),
        pytest.param(
            {"password": 12345678, "password_confirmation": "12345678"},
            {"password": ["The password must be a string.", "The password confirmation does not match."]},
            id="password-int-confirmed-by-string",  # `confirmed` is PHP's ===
        ),
        pytest.param(
            {"password": 1234, "password_confirmation": 1234},
            {"password": ["The password must be a string.", "The password must be at least 8 characters."]},
            id="password-short-int",
        ),
        pytest.param(
            {"password": ["a"] * 8, "password_confirmation": ["a"] * 8},
            {"password": ["The password must be a string."]},
            id="password-array-of-8",
        ),
        pytest.param(
            {"password": ["a"], "password_confirmation": ["a"]},
            {"password": ["The password must be a string.", "The password must have at least 8 items."]},
            id="password-array-of-1",
        ),
        pytest.param(
            {"name": 1, "surname": 2, "username": 3, "email": 4, "password": 5},
            {
                "name": ["The name must be a string."],
                "surname": ["The surname must be a string."],
                "username": ["The username must be a string."],
                "email": ["The email must be a string.", "The email must be a valid email address."],
                "password": [
                    "The password must be a string.",
                    "The password must be at least 8 characters.",
                    "The password confirmation does not match.",
                ],
            },
            id="everything-wrong-in-rule-order",
        ),
    ],
)
async def test_validation_errors(client: ContractClient, overrides: dict[str, Any], errors: dict) -> None:
    response = await post_json(client, registration(**overrides))
    assert response.status == 422
    assert response.body == invalid(errors)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-RateLimit-Remaining"] == "59"  # 422s passed the throttle
    assert "Cache-Control" not in response.headers or response.headers["Cache-Control"] != "no-store"
    assert await count_users() == 0


@pytest.mark.parametrize(
    "email",
    ["plainaddress", "@example.com", "ahmet@", "ahmet@@example.com", "ahmet example@x.com", "a..b@example.com",
     "ahmet@example..com", ".ahmet@example.com", "ahmet.@example.com", "ahmet@example.com.", "ahmet@exa mple.com"],
)  # fmt: skip
async def test_invalid_email_addresses(client: ContractClient, email: str) -> None:
    response = await post_json(client, registration(email=email))
    assert response.body == invalid({"email": ["The email must be a valid email address."]})


@pytest.mark.parametrize(
    "email", ["user@localhost", "first.last+tag@mail.example.co.uk", "o'brien@example.com", "x_y-z@sub-domain.io"]
)
async def test_valid_email_addresses(client: ContractClient, email: str) -> None:
    response = await post_json(client, registration(email=email))
    assert response.status == 201, response.text
    assert response.json()["data"]["email"] == email


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b'{"name": "Ahmet", ', "application/json", id="malformed-json"),
        pytest.param(b'[{"name": "Ahmet"}]', "application/json", id="json-array"),
        pytest.param(b'"Ahmet"', "application/json", id="json-string"),
        pytest.param(b"42", "application/json", id="json-number"),
        pytest.param(b"null", "application/json", id="json-null"),
        pytest.param(b"", "application/json", id="empty-json"),
        pytest.param(b'{"name": NaN}', "application/json", id="json-nan"),
        pytest.param(b"\xef\xbb\xbf{}", "application/json", id="json-bom"),
        pytest.param(json.dumps(registration()).encode(), None, id="json-without-content-type"),
        pytest.param(json.dumps(registration()).encode(), "text/plain", id="json-as-text-plain"),
        pytest.param(json.dumps(registration()).encode(), "APPLICATION/JSON", id="json-upper-case-type"),
        pytest.param(json.dumps(registration()).encode(), "application/x-www-form-urlencoded", id="json-as-form"),
        pytest.param(b"name=Ahmet&username=a", "application/json", id="form-as-json"),
        pytest.param(b'{"name": "\\ud800"}', "application/json", id="json-lone-surrogate"),
        pytest.param(b'{"name": "\xff\xfe"}', "application/json", id="json-invalid-utf8"),
        pytest.param(b'{"name": "a"}' + b" " * 10 + b"x", "application/json", id="json-trailing-garbage"),
        pytest.param(b'{"name": ' + b"[" * 512 + b"]" * 512 + b"}", "application/json", id="json-deeper-than-512"),
    ],
)
async def test_bodies_laravel_reads_as_empty(client: ContractClient, body: bytes, content_type: str | None) -> None:
    response = await post_raw(client, body, content_type)
    assert response.status == 422
    assert response.body == invalid(REQUIRED_ALL)


async def test_json_nested_512_deep_is_still_decoded(client: ContractClient) -> None:
    body = b'{"name": ' + b"[" * 511 + b"]" * 511 + b"}"
    response = await post_raw(client, body, "application/json")
    errors = dict(REQUIRED_ALL, name=["The name must be a string."])
    assert response.body == invalid(errors)


async def test_json_with_charset_and_vendor_types_is_json(client: ContractClient) -> None:
    body = json.dumps(registration()).encode()
    response = await post_raw(client, body, "application/vnd.api+json; charset=utf-8")
    assert response.status == 201, response.text


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param(
            {"name": "Ah\u0000met"}, {"name": ["The name contains invalid characters."]}, id="json-nul-inside"
        ),
        pytest.param(
            {"password": "pass\u0000word123", "password_confirmation": "pass\u0000word123"},
            {"password": ["The password contains invalid characters."]},
            id="json-nul-in-password",
        ),
    ],
)
async def test_nul_bytes_are_a_422(client: ContractClient, body: dict[str, Any], errors: dict) -> None:
    response = await post_json(client, registration(**body))
    assert response.status == 422
    assert response.body == invalid(errors)


@pytest.mark.parametrize(
    ("raw_name", "errors"),
    [
        pytest.param(b"%FF%FE", {"name": ["The name contains invalid characters."]}, id="percent-invalid-utf8"),
        pytest.param(b"\xff\xfe", {"name": ["The name contains invalid characters."]}, id="raw-invalid-utf8"),
        pytest.param(b"%ED%A0%80", {"name": ["The name contains invalid characters."]}, id="utf8-surrogate"),
        pytest.param(b"Ah%00met", {"name": ["The name contains invalid characters."]}, id="nul-inside"),
        pytest.param(b"%00", {"name": ["The name field is required."]}, id="only-nul-trimmed"),
        pytest.param(b"%20%09%0B", {"name": ["The name field is required."]}, id="php-trim-chars"),
        pytest.param(b"a&name[]=b", {"name": ["The name must be a string."]}, id="php-array-syntax"),
        pytest.param(b"a&name[k]=b", {"name": ["The name must be a string."]}, id="php-map-syntax"),
    ],
)
async def test_hostile_form_values_are_a_422(client: ContractClient, raw_name: bytes, errors: dict) -> None:
    rest = b"&username=ahmet&email=ahmet%40example.com&password=password123&password_confirmation=password123"
    response = await post_raw(client, b"name=" + raw_name + rest, "application/x-www-form-urlencoded")
    assert response.status == 422
    assert response.body == invalid(errors)
    assert await count_users() == 0


async def test_non_breaking_space_is_not_trimmed(client: ContractClient) -> None:
    # PHP's trim() knows only " \t\n\r\0\x0B": U+00A0 stays, so the name is present.
    response = await post_json(client, registration(name="\u00a0"))
    assert response.status == 201, response.text
    assert b'"name":"\\u00a0"' in response.body


# --- uniqueness ----------------------------------------------------------------------------------


async def test_taken_username_and_email(client: ContractClient) -> None:
    assert (await post_json(client, registration())).status == 201
    response = await post_json(client, registration(name=...))
    assert response.body == invalid(
        {
            "name": ["The name field is required."],
            "username": ["The username has already been taken."],
            "email": ["The email has already been taken."],
        }
    )
    assert await count_users() == 1


async def test_exact_seed_example_for_a_taken_email(client: ContractClient) -> None:
    assert (await post_json(client, registration())).status == 201
    response = await post_json(client, registration(username="someone-else"))
    assert response.status == 422
    assert response.body == (
        b'{"message":"The given data was invalid.","errors":{"email":["The email has already been taken."]}}'
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "  AHMETYILMAZ ", "email": "new@example.com"}, "username"),
        ({"username": "new", "email": "Ahmet@Example.COM"}, "email"),
    ],
)
async def test_uniqueness_ignores_case_and_blanks(client: ContractClient, overrides: dict, field: str) -> None:
    assert (await post_json(client, registration())).status == 201
    response = await post_json(client, registration(**overrides))
    assert response.body == invalid({field: [f"The {field} has already been taken."]})


# Deliberate difference: one login namespace. A login matches either column, so a username equal to
# someone's email (or the reverse) would capture their logins; Laravel's `unique` checks one column.
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "ahmet@example.com", "email": "mallory@example.com"}, "username"),
        ({"username": "AHMET@Example.com", "email": "mallory@example.com"}, "username"),
        ({"username": "mallory", "email": "AhmetYilmaz@example.org"}, "email"),
    ],
)
async def test_a_username_may_not_be_anothers_email_nor_the_reverse(
    client: ContractClient, overrides: dict, field: str
) -> None:
    first = registration(username="ahmetyilmaz@example.org", email="Ahmet@Example.com")
    assert (await post_json(client, first)).status == 201
    response = await post_json(client, registration(**overrides))
    assert response.body == invalid({field: [f"The {field} has already been taken."]})
    assert await count_users() == 1
    signed_in = await client.post(
        "/api/login", json={"login": "ahmet@example.com", "password": "password123"}, headers=JSON_HEADERS
    )
    assert signed_in.json()["data"]["username"] == "ahmetyilmaz@example.org"


async def test_one_namespace_follows_case_sensitivity_when_it_is_off(make_client: ClientFactory) -> None:
    client = await make_client(case_insensitive_identifiers=False)
    assert (await post_json(client, registration(username="ahmetyilmaz@example.org"))).status == 201
    same = await post_json(client, registration(username="mallory", email="ahmetyilmaz@example.org"))
    assert same.body == invalid({"email": ["The email has already been taken."]})
    dialect = connections.get("default").capabilities.dialect
    other_case = await post_json(client, registration(username="ahmet@EXAMPLE.com", email="mallory@example.com"))
    # MariaDB's collation ignores case whatever the setting; elsewhere only the exact spelling collides.
    assert other_case.status == (422 if dialect == "mysql" else 201), other_case.text


async def test_one_registration_may_use_its_own_email_as_username(client: ContractClient) -> None:
    response = await post_json(client, registration(username="ahmet@example.com"))
    assert response.status == 201, response.text


async def test_racing_registrations_cannot_share_one_login(client: ContractClient) -> None:
    """The checks before the insert pass for both; the check after it makes at most one of them stay."""
    for number in range(5):
        shared = f"shared{number}@example.com"
        answers = await asyncio.gather(
            post_json(client, registration(username=shared, email=f"first{number}@example.com")),
            post_json(client, registration(username=f"second{number}", email=shared)),
        )
        assert [answer.status for answer in answers].count(201) <= 1, [answer.text for answer in answers]
        holders = await query("SELECT id FROM users WHERE username = {} OR email = {}", shared, shared)
        assert len(holders) <= 1


@pytest.mark.parametrize(
    ("username", "messages"),
    [
        # Validation goes on after `string` fails (no `bail`), and the query builder binds the first
        # scalar of an array: ["ahmetyilmaz"] is looked up as "ahmetyilmaz".
        (["ahmetyilmaz"], ["The username must be a string.", "The username has already been taken."]),
        ([["  AhmetYilmaz "]], ["The username must be a string.", "The username has already been taken."]),
        ({"k": "ahmetyilmaz"}, ["The username must be a string.", "The username has already been taken."]),
        (["someone-else"], ["The username must be a string."]),
        ([None, "ahmetyilmaz"], ["The username must be a string."]),
    ],
)
async def test_unique_runs_on_non_strings_too(client: ContractClient, username: Any, messages: list[str]) -> None:
    assert (await post_json(client, registration())).status == 201
    response = await post_json(client, registration(username=username, email="new@example.com"))
    assert response.body == invalid({"username": messages})


async def test_numeric_username_taken_as_a_number(client: ContractClient) -> None:
    assert (await post_json(client, registration(username="12345"))).status == 201
    response = await post_json(client, registration(username=12345, email="new@example.com"))
    assert response.body == invalid(
        {"username": ["The username must be a string.", "The username has already been taken."]}
    )


def nested(depth: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@pytest.mark.parametrize("kind", ["list", "dict"])
async def test_deeply_nested_values_are_a_422_not_a_500(client: ContractClient, kind: str) -> None:
    deep = nested(510, "x", kind)  # 511 levels with the body object: json_decode still accepts it
    body = registration(name=deep, surname=deep, username=deep, email=deep, password=deep)
    body["password_confirmation"] = nested(510, "x", kind)
    response = await post_json(client, body)
    assert response.status == 422
    errors = response.json()["errors"]
    assert errors["name"] == ["The name must be a string."]
    assert errors["password"] == ["The password must be a string.", "The password must have at least 8 items."]
    assert await count_users() == 0


async def test_password_array_confirmed_only_by_an_identical_array(client: ContractClient) -> None:
    same = await post_json(client, registration(password=["a", 1], password_confirmation=["a", 1]))
    assert json.loads(same.body)["errors"]["password"] == [
        "The password must be a string.",
        "The password must have at least 8 items.",
    ]
    loose = await post_json(client, registration(password=["a", 1], password_confirmation=["a", True]))
    assert json.loads(loose.body)["errors"]["password"][-1] == "The password confirmation does not match."


@pytest.mark.parametrize(
    ("password", "messages"),
    [
        (0.30000000000000004, ["The password must be a string.", "The password must be at least 8 characters."]),
        (123456.789, ["The password must be a string."]),  # (string) 123456.789 has 10 characters
        (1e20, ["The password must be a string.", "The password must be at least 8 characters."]),  # "1.0E+20"
        (10**30, ["The password must be a string.", "The password must be at least 8 characters."]),  # a float
    ],
)
async def test_numbers_are_measured_as_php_strings(client: ContractClient, password: Any, messages: list) -> None:
    response = await post_json(client, registration(password=password, password_confirmation=password))
    assert response.body == invalid({"password": messages})


@pytest.mark.parametrize(
    ("form", "status"),
    [
        # PHP registers `password confirmation` and `password.confirmation` as `password_confirmation`
        (b"password+confirmation=password123", 201),
        (b"password.confirmation=password123", 201),
        (b"+password_confirmation=password123", 201),  # leading blanks of a name are dropped
        (b"password_confirmation%00ignored=password123", 201),  # a name ends at NUL
        (b"password_confirmation[=password123", 422),  # an unmatched "[" becomes "_"
    ],
)
async def test_php_variable_names(client: ContractClient, form: bytes, status: int) -> None:
    body = b"name=Ahmet&username=ahmetyilmaz&email=ahmet%40example.com&password=password123&" + form
    response = await post_raw(client, body, "application/x-www-form-urlencoded")
    assert response.status == status, response.text
    if status == 422:
        assert response.body == invalid({"password": ["The password confirmation does not match."]})


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        (b"name[]=a&name[]=b", {"name": ["The name must be a string."]}),
        (b"name[a][b]=x", {"name": ["The name must be a string."]}),
        (b"name[]=a&name=Ahmet", {}),  # a later plain name replaces the array
        (b"password[]=password123&password_confirmation[]=password123",
         {"password": ["The password must be a string.", "The password must have at least 8 items."]}),
        (b"password[0]=password123&password_confirmation[]=password123",  # both are [0 => ...]
         {"password": ["The password must be a string.", "The password must have at least 8 items."]}),
        (b"password[1]=password123&password_confirmation[]=password123",
         {"password": ["The password must be a string.", "The password must have at least 8 items.",
                       "The password confirmation does not match."]}),
    ],
)  # fmt: skip
async def test_php_form_arrays(client: ContractClient, form: bytes, errors: dict) -> None:
    defaults = {b"name": b"Ahmet", b"username": b"ahmetyilmaz", b"email": b"ahmet%40example.com",
                b"password": b"password123", b"password_confirmation": b"password123"}  # fmt: skip
    given = {pair.split(b"=")[0].split(b"[")[0] for pair in form.split(b"&")}
    rest = b"&".join(k + b"=" + v for k, v in defaults.items() if k not in given)
    response = await post_raw(client, form + b"&" + rest, "application/x-www-form-urlencoded")
    if errors:
        assert response.body == invalid(errors)
    else:
        assert response.status == 201, response.text


async def test_only_the_five_fields_are_assigned(client: ContractClient) -> None:
    body = registration(id=999, email_verified_at="2020-01-01 00:00:00", remember_token="x", created_at="2001-01-01")
    response = await post_json(client, body)
    assert response.status == 201, response.text
    data = response.json()["data"]
    assert list(data) == ["name", "surname", "username", "email", "updated_at", "created_at", "id"]
    assert data["id"] != 999 and not data["created_at"].startswith("2001")
    row = await user_row("ahmetyilmaz")
    assert row["email_verified_at"] is None and row["remember_token"] is None


@pytest.mark.parametrize(("depth", "status"), [(64, 422), (65, 201)])
async def test_form_nesting_deeper_than_64_drops_the_variable(client: ContractClient, depth: int, status: int) -> None:
    deep = b"surname" + b"[a]" * depth + b"=x"
    body = b"name=Ahmet&surname=Y&username=ahmetyilmaz&email=ahmet%40example.com&password=password123&"
    body += b"password_confirmation=password123&" + deep
    response = await post_raw(client, body, "application/x-www-form-urlencoded")
    assert response.status == status, response.text
    if status == 422:  # 64 levels: surname is an array
        assert response.body == invalid({"surname": ["The surname must be a string."]})
    else:  # 65: PHP drops surname altogether, the earlier "Y" included
        assert response.json()["data"]["surname"] is None
