"""Helpers of the GraphQL dialect's tests (seed 002, POST /graphql): the seed's requests verbatim."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.api import bearer, register
from tests.support.contract import ContractClient, WireResponse

# Seed 002's example requests, copied verbatim (only the tokens of the logout example are filled in).
SEED_AUTH = """mutation {
  auth(usernameoremail: "user@example.com", password: "password123") {
    tokens {
      accessToken
      refreshToken
    }
  }
}"""
SEED_LOGOUT = """mutation {
  logout(
    access_token: "ACCESS"
    refresh_token: "REFRESH"
  ) {
    success
    message
  }
}"""
# The refresh mutation as the seed writes it, with its type turned into a variable (the seed shows only
# the signature, `refreshToken(refreshToken: String!)`).
SEED_REFRESH = """mutation ($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) {
    tokens {
      accessToken
      refreshToken
    }
  }
}"""
AUTH_VARS = """mutation ($u: String!, $p: String!) {
  auth(usernameoremail: $u, password: $p) { tokens { accessToken refreshToken } }
}"""
LOGOUT_VARS = """mutation ($a: String!, $r: String!) {
  logout(access_token: $a, refresh_token: $r) { success message }
}"""
ME = "{ me { id username email name surname role emailVerified } }"
LOGGED_OUT = {"data": {"logout": {"success": True, "message": "Çıkış işlemi başarılı."}}}
JWT = re.compile(r"^eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
EMAIL, USERNAME, PASSWORD = "user@example.com", "user", "password123"


async def seed_user(client: ContractClient) -> None:
    await register(client, email=EMAIL, username=USERNAME, password=PASSWORD, password_confirmation=PASSWORD)


async def gql(
    client: ContractClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None, **kw: Any
) -> WireResponse:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    headers = bearer(token) if token else {}
    return await client.post("/graphql", json=body, headers=headers, **kw)


def codes(response: WireResponse) -> list[str]:
    assert response.status == 200, response.text
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


async def sign_in(client: ContractClient, login: str = EMAIL, password: str = PASSWORD) -> tuple[str, str]:
    response = await gql(client, AUTH_VARS, {"u": login, "p": password})
    assert response.status == 200, response.text
    tokens = response.json()["data"]["auth"]["tokens"]
    return tokens["accessToken"], tokens["refreshToken"]


async def logout(client: ContractClient, access: str, refresh: str) -> WireResponse:
    return await gql(client, LOGOUT_VARS, {"a": access, "r": refresh})


def claims(token: str) -> dict[str, Any]:
    import base64

    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
