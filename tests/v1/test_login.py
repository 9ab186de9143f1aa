"""POST /api/v1/auth/login (seeds 000/001): the token view, one 401 for unknown user and wrong password,
403 for a deactivated account after the right password, 422, and the login throttles (429)."""

from __future__ import annotations

from typing import Any

import pytest

from sanctum_py.db.models import PersonalAccessToken, RefreshToken, User
from tests.conftest import ClientFactory
from tests.support.contract import ContractClient
from tests.v1.helpers import (
    BAD_CREDENTIALS,
    DEACTIVATED,
    NOT_AN_OBJECT,
    PASSWORD,
    TOKEN_VIEW_KEYS,
    assert_no_store,
    assert_token_view,
    assert_too_many,
    bad_characters,
    expect,
    id_of,
    invalid,
    login,
    not_string,
    post,
    registered,
    required,
    user_row,
    v1_time,
    wire,
)


@pytest.mark.parametrize("username", ["kullanici123", "kullanici123@example.com"])
async def test_login_answers_the_token_view(client: ContractClient, username: str) -> None:
    await registered(client)
    response = await login(client, username)
    assert response.status == 200, response.text
    body = response.json()
    assert list(body) == TOKEN_VIEW_KEYS
    await assert_token_view(body)
    assert body["user"]["last_login"] is not None  # set by this login
    assert body["user"]["last_login"] == v1_time((await user_row())["last_login_at"])
    assert response.body == wire(body)
    assert_no_store(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The refresh token is real and belongs to this access token.
    refresh = await RefreshToken.get(id=id_of(body["refresh_token"]))
    assert refresh.access_token_id == body["token_id"]
    assert refresh.user_id == body["user"]["user_id"]


async def test_every_v1_token_expires_after_access_token_minutes(make_client: ClientFactory) -> None:
    client = await make_client(access_token_minutes=5)
    await registered(client)
    body = (await login(client, "kullanici123")).json()
    await assert_token_view(body, minutes=5)
    assert (await PersonalAccessToken.get(id=body["token_id"])).expires_at is not None


async def test_v1_issues_refresh_tokens_whatever_refresh_tokens_says(make_client: ClientFactory) -> None:
    for setting in (False, True):
        client = await make_client(refresh_tokens=setting)
        await registered(client, username=f"user{int(setting)}", email=f"user{int(setting)}@example.com")
        body = (await login(client, f"user{int(setting)}")).json()
        assert "refresh_token" in body
        assert await RefreshToken.filter(id=id_of(body["refresh_token"])).exists()


async def test_each_login_is_a_new_token(client: ContractClient) -> None:
    await registered(client)
    first, second = (await login(client, "kullanici123")).json(), (await login(client, "kullanici123")).json()
    assert first["token_id"] != second["token_id"] and first["token"] != second["token"]
    assert first["refresh_token"] != second["refresh_token"]


async def test_form_encoded_login(client: ContractClient) -> None:
    await registered(client)
    response = await post(client, "login", data={"username": "kullanici123", "password": PASSWORD})
    assert response.status == 200, response.text


async def test_username_is_trimmed_but_the_password_is_not(client: ContractClient) -> None:
    await registered(client)
    assert (await login(client, "  kullanici123\t")).status == 200
    expect(await login(client, "kullanici123", f" {PASSWORD}"), 401, BAD_CREDENTIALS)


# --- failures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("kullanici123", "wrong-password"),
        ("kullanici123@example.com", "wrong-password"),
        ("nobody", PASSWORD),
        ("nobody@example.com", PASSWORD),
        ("kullanici", PASSWORD),  # a prefix is not a match
        ("%", PASSWORD),
        ("kullanici123' OR '1'='1", PASSWORD),
        ("Doe", PASSWORD),  # the last name is not a login
        ("u" * 1000, PASSWORD),  # no length rule on a login: just not a user
    ],
)
async def test_unknown_user_and_wrong_password_are_one_401(client: ContractClient, username: str, password: str):
    await registered(client)
    response = await login(client, username, password)
    expect(response, 401, BAD_CREDENTIALS)
    assert await PersonalAccessToken.all().count() == 0


async def test_no_enumeration(client: ContractClient) -> None:
    await registered(client)
    wrong_password = await login(client, "kullanici123", "wrong-password")
    unknown_user = await login(client, "nobody-here", "wrong-password")
    assert (wrong_password.status, wrong_password.body) == (unknown_user.status, unknown_user.body)
    for name in ("Content-Type", "Cache-Control", "X-Content-Type-Options", "WWW-Authenticate"):
        assert wrong_password.headers.get(name) == unknown_user.headers.get(name), name


async def test_a_deactivated_account_is_403_only_after_the_right_password(client: ContractClient) -> None:
    await registered(client)
    await User.filter(username="kullanici123").update(is_active=False)
    expect(await login(client, "kullanici123"), 403, DEACTIVATED)
    expect(await login(client, "kullanici123", "wrong-password"), 401, BAD_CREDENTIALS)
    assert await PersonalAccessToken.all().count() == 0


VALIDATION: list[tuple[Any, dict[str, Any]]] = [
    ({}, invalid(required("username"), required("password"))),
    ({"username": "kullanici123"}, invalid(required("password"))),
    ({"password": PASSWORD}, invalid(required("username"))),
    ({"username": "", "password": ""}, invalid(required("username"), required("password"))),
    ({"username": "   ", "password": None}, invalid(required("username"), required("password"))),
    ({"username": 123, "password": PASSWORD}, invalid(not_string("username"))),
    ({"username": "kullanici123", "password": 12345678}, invalid(not_string("password"))),
    ({"username": ["kullanici123"], "password": {"a": 1}}, invalid(not_string("username"), not_string("password"))),
    ({"username": True, "password": False}, invalid(not_string("username"), not_string("password"))),
    ({"username": "kull\u0000anici123", "password": PASSWORD}, invalid(bad_characters("username"))),
    ({"username": "kullanici123", "password": "my\u0000secret"}, invalid(bad_characters("password"))),
]


@pytest.mark.parametrize(("body", "expected"), VALIDATION)
async def test_login_validation(client: ContractClient, body: Any, expected: dict[str, Any]) -> None:
    await registered(client)
    expect(await post(client, "login", body), 422, expected)


async def test_an_empty_body_is_empty_input(client: ContractClient) -> None:
    response = await post(client, "login", data=b"", headers={"Content-Type": "application/json"})
    expect(response, 422, invalid(required("username"), required("password")))


@pytest.mark.parametrize("raw", [b"{", b"{'username': 'x'}", b"[]", b'["kullanici123", "mysecretpassword"]', b"null"])
async def test_a_body_that_is_not_a_json_object_is_400(client: ContractClient, raw: bytes) -> None:
    response = await post(client, "login", data=raw, headers={"Content-Type": "application/json"})
    expect(response, 400, NOT_AN_OBJECT)


# --- throttles -----------------------------------------------------------------------------------------


async def test_five_failures_a_minute_per_account_and_address(client: ContractClient) -> None:
    await registered(client)
    for _ in range(5):
        expect(await login(client, "kullanici123", "wrong-password"), 401, BAD_CREDENTIALS)
    for password in ("wrong-password", PASSWORD):  # now even the right password waits
        assert_too_many(await login(client, "kullanici123", password), at_most=60)
    assert await PersonalAccessToken.all().count() == 0
    # Another account from the same address is not affected.
    await registered(client, username="other", email="other@example.com")
    assert (await login(client, "other")).status == 200


async def test_the_hourly_budget_per_account(make_client: ClientFactory) -> None:
    client = await make_client(login_max_attempts=100, login_max_failures_per_hour=3)
    await registered(client)
    for _ in range(3):
        expect(await login(client, "kullanici123", "wrong-password"), 401, BAD_CREDENTIALS)
    retry_after = assert_too_many(await login(client, "kullanici123"), at_most=3600)
    assert retry_after > 60


async def test_the_api_limit_answers_in_v1_shape(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2)
    for _ in range(2):
        assert (await post(client, "login", {})).status == 422
    assert_too_many(await post(client, "login", {}), at_most=60)
