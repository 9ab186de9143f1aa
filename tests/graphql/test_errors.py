"""Error codes of POST /graphql (HTTP 200, errors[].extensions.code) and what the document may be: malformed
queries, unknown fields, wrong variable types, huge, deep or batched requests are GraphQL errors, never a 500."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sanctum_py.db.models import User
from tests.conftest import ClientFactory
from tests.graphql.helpers import AUTH_VARS, EMAIL, ME, PASSWORD, codes, gql, seed_user, sign_in
from tests.support.contract import ContractClient


async def test_unknown_user_and_wrong_password_are_both_invalid_credentials(client: ContractClient) -> None:
    await seed_user(client)
    wrong = await gql(client, AUTH_VARS, {"u": EMAIL, "p": "wrong-password"})
    unknown = await gql(client, AUTH_VARS, {"u": "nobody@example.com", "p": PASSWORD})
    assert codes(wrong) == codes(unknown) == ["INVALID_CREDENTIALS"]
    assert _unplaced(wrong.json()) == _unplaced(unknown.json())  # the same answer, word for word
    assert wrong.json()["data"] == {"auth": None}
    assert wrong.json()["errors"][0]["path"] == ["auth"]


def _unplaced(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without the errors' source locations (the two documents differ in length)."""
    return {**body, "errors": [{**error, "locations": None} for error in body["errors"]]}


async def test_unknown_user_and_wrong_password_take_the_same_time(make_client: ClientFactory) -> None:
    client = await make_client(bcrypt_rounds=10)  # a bcrypt slow enough to see a skipped check
    await seed_user(client)

    async def timed(login: str) -> float:
        started = time.perf_counter()
        assert codes(await gql(client, AUTH_VARS, {"u": login, "p": "wrong-password"})) == ["INVALID_CREDENTIALS"]
        return time.perf_counter() - started

    known = min([await timed(EMAIL) for _ in range(2)])
    unknown = min([await timed("nobody@example.com") for _ in range(2)])
    assert 0.5 < unknown / known < 2.0, (known, unknown)


async def test_user_not_found_only_behind_the_reveal_setting(make_client: ClientFactory) -> None:
    client = await make_client(graphql_reveal_unknown_users=True)
    await seed_user(client)
    assert codes(await gql(client, AUTH_VARS, {"u": "nobody@example.com", "p": PASSWORD})) == ["USER_NOT_FOUND"]
    assert codes(await gql(client, AUTH_VARS, {"u": EMAIL, "p": "wrong-password"})) == ["INVALID_CREDENTIALS"]
    body = (await gql(client, AUTH_VARS, {"u": "nobody@example.com", "p": PASSWORD})).json()
    assert body["errors"][0]["message"] == "Kullanıcı bulunamadı."


async def test_a_deactivated_account_is_told_only_after_the_right_password(client: ContractClient) -> None:
    await seed_user(client)
    await User.filter(email=EMAIL).update(is_active=False)
    assert codes(await gql(client, AUTH_VARS, {"u": EMAIL, "p": "wrong-password"})) == ["INVALID_CREDENTIALS"]
    assert codes(await gql(client, AUTH_VARS, {"u": EMAIL, "p": PASSWORD})) == ["ACCOUNT_INACTIVE"]


async def test_empty_arguments_are_bad_user_input(client: ContractClient) -> None:
    assert codes(await gql(client, AUTH_VARS, {"u": " ", "p": PASSWORD})) == ["BAD_USER_INPUT"]
    assert codes(await gql(client, AUTH_VARS, {"u": EMAIL, "p": ""})) == ["BAD_USER_INPUT"]


async def test_bad_tokens_are_invalid_tokens_and_unauthenticated(client: ContractClient) -> None:
    await seed_user(client)
    refresh_q = "mutation ($r: String!) { refreshToken(refreshToken: $r) { tokens { accessToken } } }"
    for junk in ("", "x", "1|nope", "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.AAAA", "eyJ.eyJ.eyJ"):
        assert codes(await gql(client, refresh_q, {"r": junk})) == ["INVALID_TOKENS"], junk
        assert codes(await gql(client, ME, token=junk or "z")) == ["UNAUTHENTICATED"], junk
    access, refresh = await sign_in(client)
    # An access token is not a refresh token and the reverse, though both are ours and signed.
    assert codes(await gql(client, refresh_q, {"r": access})) == ["INVALID_TOKENS"]
    assert codes(await gql(client, ME, token=refresh)) == ["UNAUTHENTICATED"]


BAD_DOCUMENTS: list[tuple[str, Any]] = [
    ("syntax", {"query": "mutation { auth("}),
    ("unknown field", {"query": "{ nope }"}),
    ("unknown argument", {"query": "{ me(id: 1) { id } }"}),
    ("missing argument", {"query": 'mutation { auth(password: "x") { tokens { accessToken } } }'}),
    ("wrong variable type", {"query": AUTH_VARS, "variables": {"u": 5, "p": ["x"]}}),
    ("missing variable", {"query": AUTH_VARS, "variables": {}}),
    ("no selection", {"query": 'mutation { auth(usernameoremail: "a", password: "b") }'}),
    ("subscription", {"query": "subscription { me { id } }"}),
    ("unknown operation", {"query": "query A { me { id } }", "operationName": "B"}),
    ("two operations, none named", {"query": "query A { me { id } } query B { me { id } }"}),
    ("empty query", {"query": ""}),
    ("no query", {"variables": {}}),
    ("query not a string", {"query": ["{ me { id } }"]}),
    ("variables not an object", {"query": ME, "variables": [1]}),
    ("operationName not a string", {"query": ME, "operationName": 5}),
    ("batch", [{"query": ME}, {"query": ME}]),
    ("not an object", "{ me { id } }"),
    ("huge", {"query": "{ me { " + "id " * 5000 + "} }"}),
    ("too many tokens", {"query": "{ me { " + "id " * 2100 + "} }"}),
    ("deep", {"query": "{ __typename " + "me { id } " + "}"}),
    (
        "aliased mutations",
        {
            "query": 'mutation { a: logout(access_token: "x", refresh_token: "y") { success } '
            'b: logout(access_token: "x", refresh_token: "y") { success } }'
        },
    ),
    ("too many fields", {"query": "{ " + " ".join(f"m{i}: me {{ id }}" for i in range(40)) + " }"}),
    ("fragment cycle", {"query": "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }"}),
    (
        "fragment bomb",
        {
            "query": "{ me { ...F0 } } "
            + " ".join(f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} id }}" for i in range(20))
            + " fragment F20 on User { id }"
        },
    ),
]


@pytest.mark.parametrize(("name", "body"), BAD_DOCUMENTS, ids=[name for name, _ in BAD_DOCUMENTS])
async def test_bad_documents_are_bad_user_input_never_a_500(client: ContractClient, name: str, body: Any) -> None:
    response = await client.post("/graphql", json=body)
    assert response.status == 200, response.text
    answer = response.json()
    if name == "deep":  # within the limits: this one runs (and `me` wants a token)
        assert codes(response) == ["UNAUTHENTICATED"]
        return
    assert "data" not in answer, answer
    assert answer["errors"] and {e["extensions"]["code"] for e in answer["errors"]} == {"BAD_USER_INPUT"}


async def test_not_json_is_bad_user_input(client: ContractClient) -> None:
    response = await client.post("/graphql", data=b"\xff{", headers={"Content-Type": "application/json"})
    assert codes(response) == ["BAD_USER_INPUT"]


async def test_depth_and_field_limits_are_settings(make_client: ClientFactory) -> None:
    client = await make_client(graphql_max_depth=2, graphql_max_fields=4)
    assert codes(await gql(client, "{ me { id } }")) == ["UNAUTHENTICATED"]  # depth 2, 2 fields: runs
    deep = 'mutation { auth(usernameoremail: "a", password: "b") { tokens { accessToken } } }'  # depth 3
    assert codes(await gql(client, deep)) == ["BAD_USER_INPUT"]
    wide = "{ me { id username email name } }"  # 5 fields
    response = await gql(client, wide)
    assert codes(response) == ["BAD_USER_INPUT"] and "too many fields" in response.text


async def test_introspection_runs_within_the_limits(client: ContractClient) -> None:
    from graphql import get_introspection_query

    response = await gql(client, get_introspection_query())
    assert response.status == 200 and "errors" not in response.json(), response.text[:400]
    names = {t["name"] for t in response.json()["data"]["__schema"]["types"]}
    assert {"Query", "Mutation", "Tokens", "AuthPayload", "LogoutPayload", "User"} <= names


async def test_transport_failures_keep_their_status_in_the_graphql_shape(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=2048)
    get = await client.get("/graphql")
    assert get.status == 405 and get.headers["Allow"] == "POST"
    assert get.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    missing = await client.post("/graphql/nope", json={})
    assert missing.status == 404 and missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    large = await client.post("/graphql", json={"query": "{ me { id } }", "pad": "x" * 4096})
    assert large.status == 413 and large.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
