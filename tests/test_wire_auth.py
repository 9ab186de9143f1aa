"""Bearer tokens on the wire: Request::bearerToken() + Sanctum 2's findToken, /api/me and /api/logout."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from sanctum_py.http.kernel.keys import SERVICES
from tests.support.api import JSON_HEADERS, login, register, registration
from tests.support.contract import ContractClient, WireResponse
from tests.support.db import json_time, query

UNAUTHENTICATED = b'{"message":"Unauthenticated."}'


async def me(client: ContractClient, authorization: str | None) -> WireResponse:
    headers = dict(JSON_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    return await client.get("/api/me", headers=headers)


def assert_unauthenticated(response: WireResponse) -> None:
    assert response.status == 401
    assert response.body == UNAUTHENTICATED
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # the guard runs before the throttle: a 401 never reaches it
    assert "X-RateLimit-Limit" not in response.headers
    assert "X-RateLimit-Remaining" not in response.headers


# --- /api/me -------------------------------------------------------------------------------------


async def test_me_body_is_byte_exact(client: ContractClient) -> None:
    token = (await register(client, name="Şule", surname=None, email="a/b@example.com")).json()["access_token"]
    response = await me(client, f"Bearer {token}")

    assert response.status == 200
    user = (await query("SELECT * FROM users WHERE username = {}", "ahmetyilmaz"))[0]
    expected = (
        f'{{"id":{user["id"]},"name":"\\u015eule","surname":null,"username":"ahmetyilmaz",'
        f'"email":"a\\/b@example.com","email_verified_at":null,"created_at":"{json_time(user["created_at"])}",'
        f'"updated_at":"{json_time(user["updated_at"])}"}}'
    )
    assert response.body == expected.encode()
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("60", "59")


async def test_me_shows_email_verified_at(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    await query("UPDATE users SET email_verified_at = {} WHERE username = {}",
                datetime(2024, 2, 8, 18, 0, 0), "ahmetyilmaz")  # fmt: skip
    response = await me(client, f"Bearer {token}")
    assert b'"email_verified_at":"2024-02-08T18:00:00.000000Z"' in response.body


async def test_head_me(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    response = await client.request("HEAD", "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert response.body == b""
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-RateLimit-Remaining"] == "59"
    anonymous = await client.request("HEAD", "/api/me")
    assert (anonymous.status, anonymous.body) == (401, b"")


async def test_me_with_trailing_slash(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    assert (await client.get("/api/me/", headers={"Authorization": f"Bearer {token}"})).status == 200


# --- Authorization header parsing ------------------------------------------------------------------


@pytest.fixture
async def tokens(client: ContractClient) -> dict[str, str]:
    """Two tokens of one user (registration, login) and one of another user, split into parts."""
    first = (await register(client)).json()["access_token"]
    second = (await login(client, "ahmetyilmaz", "password123")).json()["access_token"]
    other = (await register(client, username="other", email="other@example.com")).json()["access_token"]
    first_id, first_secret = first.split("|", 1)
    second_id, second_secret = second.split("|", 1)
    return {
        "token": first,
        "id": first_id,
        "secret": first_secret,
        "second_id": second_id,
        "second_secret": second_secret,
        "other": other,
    }


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer {token}", 200),
        ("Bearer  {token}", 200),  # bearerToken() = " 1|..." and find(" 1") finds row 1
        ("Bearer {token}, Basic abc", 200),  # cut at the first comma
        ("Bearer {token},garbage", 200),
        ("Basic abc, Bearer {token}", 200),  # what follows the LAST "Bearer "
        ("Bearer garbage, Bearer {token}", 200),
        ("Bearer {token}, Bearer garbage", 401),
        ("XBearer {token}", 200),  # strrpos: no word boundary
        ("Bearer 0{id}|{secret}", 200),  # zero-padded id: find("01")
        ("Bearer 000{id}|{secret}", 200),
        ("Bearer {secret}", 200),  # a bare secret is looked up by its hash
        ("bearer {token}", 200),  # deliberate: the scheme in any case (RFC 7235); Laravel 8 says 401
        ("BEARER {token}", 200),
        ("Bearer {id}|", 401),  # empty secret
        ("Bearer |{secret}", 401),  # empty id
        ("Bearer {id}|{secret}x", 401),  # wrong secret
        ("Bearer {id}|{second_secret}", 401),  # another token's secret
        ("Bearer {second_id}|{secret}", 401),
        ("Bearer 999999|{secret}", 401),  # unknown id
        ("Bearer 0|{secret}", 401),
        ("Bearer -{id}|{secret}", 401),
        ("Bearer abc|{secret}", 401),  # PostgreSQL would make Laravel answer 500 here
        ("Bearer 99999999999999999999999|{secret}", 401),  # beyond bigint: Laravel's PostgreSQL 500s
        ("Bearer {id}.5|{secret}", 401),
        ("Bearer {token}|extra", 401),  # explode('|', 2): the secret keeps the "|extra"
        ("Bearer {secret}x", 401),
        ("Bearer 0", 401),  # "0" is falsy in PHP: no token at all
        ("Bearer", 401),
        ("Bearer ", 401),
        ("Bearer: {token}", 401),  # no "Bearer " in "Bearer: 1|..."
        ("Bearer\t{token}", 401),
        ("Token {token}", 401),
        ("{token}", 401),
        ("Basic YWhtZXQ6cGFzc3dvcmQxMjM=", 401),
        ("Bearer garbage", 401),
        ("Bearer " + "x" * 5000, 401),
        ("Bearer \u00ff\u00fe|\u00ff", 401),  # latin-1 bytes in the header
    ],
)
async def test_bearer_parsing(client: ContractClient, tokens: dict[str, str], authorization: str, status: int) -> None:
    response = await me(client, authorization.format(**tokens))
    if status == 200:
        assert response.status == 200, response.text
        assert response.json()["username"] == "ahmetyilmaz"
    else:
        assert_unauthenticated(response)


async def test_no_authorization_header(client: ContractClient) -> None:
    await register(client)
    assert_unauthenticated(await me(client, None))
    assert_unauthenticated(await client.post("/api/logout", headers=JSON_HEADERS))


async def test_token_of_another_user_is_that_user(client: ContractClient, tokens: dict[str, str]) -> None:
    response = await me(client, f"Bearer {tokens['other']}")
    assert response.json()["username"] == "other"


async def test_token_of_a_deleted_user(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    await query("DELETE FROM users WHERE username = {}", "ahmetyilmaz")
    assert_unauthenticated(await me(client, f"Bearer {token}"))


async def test_token_of_a_deleted_user_without_token_cache(make_client) -> None:
    client = await make_client(token_cache="off")
    token = (await register(client)).json()["access_token"]
    assert (await me(client, f"Bearer {token}")).status == 200
    await query("DELETE FROM users WHERE username = {}", "ahmetyilmaz")
    assert_unauthenticated(await me(client, f"Bearer {token}"))


async def test_token_row_deleted_elsewhere_without_token_cache(make_client) -> None:
    client = await make_client(token_cache="off")
    token = (await register(client)).json()["access_token"]
    assert (await me(client, f"Bearer {token}")).status == 200
    await query("DELETE FROM personal_access_tokens")
    assert_unauthenticated(await me(client, f"Bearer {token}"))


async def test_token_of_another_model_type(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    await query("UPDATE personal_access_tokens SET tokenable_type = {}", "App\\Models\\Admin")
    assert_unauthenticated(await me(client, f"Bearer {token}"))


async def test_last_used_at_is_recorded(make_client) -> None:
    client = await make_client(token_cache="off")
    token = (await register(client)).json()["access_token"]
    assert (await me(client, f"Bearer {token}")).status == 200
    await client.app[SERVICES].tokens.drain()  # the write happens off the request path
    rows = await query("SELECT last_used_at FROM personal_access_tokens")
    assert rows[0]["last_used_at"] is not None


async def test_last_used_bookkeeping_forgets_tokens_past_the_interval(make_client) -> None:
    """The map of when each token's last_used_at was written must not grow with every token ever used."""
    client = await make_client(token_cache="off", last_used_write_interval=1)
    tokens = client.app[SERVICES].tokens
    early = [(await register(client, username=f"early{n}", email=f"early{n}@example.com")).json() for n in range(4)]
    for body in early:
        assert (await me(client, f"Bearer {body['access_token']}")).status == 200
    assert len(tokens._last_used_written) == 4
    await asyncio.sleep(1.1)
    late = (await register(client, username="late", email="late@example.com")).json()["access_token"]
    assert (await me(client, f"Bearer {late}")).status == 200
    assert list(tokens._last_used_written) == [int(late.partition("|")[0])]
    # A token forgotten that way is written again on its next use, as a stale entry would have been.
    assert (await me(client, f"Bearer {early[0]['access_token']}")).status == 200
    assert len(tokens._last_used_written) == 2
    await tokens.drain()


# --- /api/logout ---------------------------------------------------------------------------------


async def test_logout_deletes_only_the_current_token(client: ContractClient, tokens: dict[str, str]) -> None:
    response = await client.post("/api/logout", headers={"Authorization": f"Bearer {tokens['token']}"})

    assert response.status == 200
    assert response.body == b'{"message":"Logged out successfully"}'
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-RateLimit-Limit"] == "60"
    remaining = {str(row["id"]) for row in await query("SELECT id FROM personal_access_tokens")}
    assert tokens["id"] not in remaining
    assert tokens["second_id"] in remaining
    assert len(remaining) == 2  # the second token and the other user's

    assert_unauthenticated(await me(client, f"Bearer {tokens['token']}"))
    assert_unauthenticated(await me(client, f"Bearer {tokens['secret']}"))
    assert_unauthenticated(await client.post("/api/logout", headers={"Authorization": f"Bearer {tokens['token']}"}))
    second = f"Bearer {tokens['second_id']}|{tokens['second_secret']}"
    assert (await me(client, second)).status == 200
    assert (await me(client, f"Bearer {tokens['other']}")).status == 200


async def test_logout_ignores_its_body(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    response = await client.post(
        "/api/logout",
        data=b"{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.body == b'{"message":"Logged out successfully"}'


async def test_logout_then_login_again(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    assert (await client.post("/api/logout", headers={"Authorization": f"Bearer {token}"})).status == 200
    fresh = (await login(client, "ahmetyilmaz", "password123")).json()["access_token"]
    assert (await me(client, f"Bearer {fresh}")).status == 200
    assert_unauthenticated(await me(client, f"Bearer {token}"))


async def test_password_is_never_on_the_wire(client: ContractClient) -> None:
    body = registration()
    token = (await register(client)).json()["access_token"]
    for response in (
        await me(client, f"Bearer {token}"),
        await login(client, "ahmetyilmaz", "password123"),
    ):
        text = response.text
        assert "password" not in text and "$2y$" not in text and "remember_token" not in text
        assert body["password"] not in text
    assert json.loads((await me(client, f"Bearer {token}")).body).keys() == {
        "id", "name", "surname", "username", "email", "email_verified_at", "created_at", "updated_at",
    }  # fmt: skip
