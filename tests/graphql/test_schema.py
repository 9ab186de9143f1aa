"""The SDL lives in the repo (sanctum_py/http/graphql/schema.graphql): the schema served at POST /graphql, read
back by introspection, must be exactly that file's, and the file must carry the seed's signatures."""

from __future__ import annotations

import re

from graphql import build_client_schema, build_schema, get_introspection_query, print_schema

from sanctum_py.http.graphql.handlers import schema_sdl
from tests.graphql.helpers import gql
from tests.support.contract import ContractClient

# Seed 002's signatures, as the seed writes them.
SEED_SIGNATURES = (
    "auth(usernameoremail: String!, password: String!)",
    "refreshToken(refreshToken: String!)",
    "logout(access_token: String!, refresh_token: String!)",
)


async def test_the_served_schema_is_the_sdl_file(client: ContractClient) -> None:
    response = await gql(client, get_introspection_query(descriptions=True))
    served = build_client_schema(response.json()["data"])
    assert print_schema(served) == print_schema(build_schema(schema_sdl()))


def test_the_sdl_file_has_the_seeds_mutations_and_fields() -> None:
    sdl = schema_sdl()
    for signature in SEED_SIGNATURES:
        assert signature in sdl, signature
    tokens = re.search(r"type Tokens \{(.*?)\}", sdl, re.S)
    assert tokens is not None and re.findall(r"^\s+(\w+):", tokens.group(1), re.M) == ["accessToken", "refreshToken"]
    logout = re.search(r"type LogoutPayload \{(.*?)\}", sdl, re.S)
    assert logout is not None and re.findall(r"^\s+(\w+):", logout.group(1), re.M) == ["success", "message"]
