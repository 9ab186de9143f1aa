"""GraphQL schema fuzzing: hypothesis-graphql writes queries and mutations from schema.graphql (valid ones, and
invalid ones in its negative mode), sent to the real server (`python -m sanctum_py serve`, SQLite) with and
without a signed-in JWT. Every answer must be a GraphQL answer: HTTP 200, JSON with `data` or `errors`, every
error with a code, never INTERNAL_SERVER_ERROR, never a 5xx.

SANCTUM_GRAPHQL_FUZZ_CASES sets the number of cases per mode (default 150, the CI run).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations

from sanctum_py.http.graphql.handlers import schema_sdl
from tests.conftest import TEST_APP_KEY
from tests.support.servers import LiveServer, live_server

CASES = int(os.environ.get("SANCTUM_GRAPHQL_FUZZ_CASES", 150))
KNOWN_CODES = {
    "BAD_USER_INPUT",
    "INVALID_CREDENTIALS",
    "USER_NOT_FOUND",
    "ACCOUNT_INACTIVE",
    "TWO_FACTOR_REQUIRED",
    "TOO_MANY_ATTEMPTS",
    "INVALID_TOKENS",
    "UNAUTHENTICATED",
}
# Throttles lifted so the cases measure the schema, not the limits (tests/graphql/test_limits.py does).
SETTINGS = {
    "APP_KEY": TEST_APP_KEY,
    "BCRYPT_ROUNDS": "4",
    "API_RATE_LIMIT": "1000000",
    "LOGIN_MAX_ATTEMPTS": "1000000",
    "LOGIN_MAX_FAILURES_PER_HOUR": "1000000",
    "REFRESH_THROTTLE_SECONDS": "0",
    "GRAPHQL_LOGOUT_THROTTLE_SECONDS": "0",
    "MAIL_DRIVER": "file",
    "LOG_LEVEL": "WARNING",
}


def _post(server: LiveServer, body: bytes, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{server.base_url}/graphql", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def server_and_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    directory: Path = tmp_path_factory.mktemp("graphql-fuzz")
    environment = {
        **SETTINGS,
        "DATABASE_URL": f"sqlite://{directory / 'fuzz.sqlite'}",
        "MAIL_FILE_PATH": str(directory / "mail"),
    }
    with live_server(directory, environment) as server:
        registration = {
            "name": "Fuzz",
            "username": "fuzz",
            "email": "fuzz@example.com",
            "password": "password123",
            "password_confirmation": "password123",
        }
        request = urllib.request.Request(
            f"{server.base_url}/api/register",
            data=json.dumps(registration).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
        query = 'mutation { auth(usernameoremail: "fuzz", password: "password123") { tokens { accessToken } } }'
        status, body = _post(server, json.dumps({"query": query}).encode())
        assert status == 200, body
        yield server, json.loads(body)["data"]["auth"]["tokens"]["accessToken"]


def _check(server: LiveServer, status: int, body: bytes, sent: str) -> None:
    assert status == 200, f"{status} for {sent!r}: {body[:400]!r}\n{server.log_tail()}"
    answer: dict[str, Any] = json.loads(body)
    assert answer and set(answer) <= {"data", "errors"}, answer
    for error in answer.get("errors", []):
        assert error["extensions"]["code"] in KNOWN_CODES, (sent, error)


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_queries_never_fail_the_server(server_and_token: tuple[LiveServer, str], mode: Mode) -> None:
    server, token = server_and_token
    # Negative mode breaks required arguments and scalar types: only the mutations have any (`me` has none).
    queries = from_schema(schema_sdl()) if mode is Mode.POSITIVE else mutations(schema_sdl(), mode=mode)

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(query=queries, signed_in=st.booleans())
    def case(query: str, signed_in: bool) -> None:
        status, body = _post(server, json.dumps({"query": query}).encode(), token if signed_in else None)
        _check(server, status, body, query)

    case()
