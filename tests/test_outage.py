"""A database that does not answer: 503 JSON with Retry-After, never a traceback; /up reports it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sanctum_py.app import create_app
from sanctum_py.settings import Settings
from tests.conftest import TEST_APP_KEY
from tests.support.contract import ContractClient

UNAVAILABLE = b'{\n    "message": "Service Unavailable."\n}'


async def test_health_route_when_everything_answers(client: ContractClient) -> None:
    response = await client.get("/up")
    assert (response.status, response.body) == (200, b'{"status":"up"}')
    assert "X-RateLimit-Limit" not in response.headers


@pytest.mark.parametrize("url", ["postgres://postgres@127.0.0.1:1/none", "mysql://root:@127.0.0.1:1/none"])
async def test_unreachable_database_is_a_503(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]], url: str
) -> None:
    # A port nothing listens on: every query fails to connect, as during an outage.
    settings = Settings(_env_file=None, database_url=url, app_key=TEST_APP_KEY, bcrypt_rounds=4)  # type: ignore[call-arg]
    client = ContractClient(await aiohttp_client(create_app(settings)))
    for method, path, body in (
        ("GET", "/up", None),
        ("POST", "/api/login", {"login": "someone", "password": "password123"}),
        ("GET", "/api/me", None),
    ):
        headers = {"Authorization": "Bearer 1|" + "a" * 48}
        response = await client.request(method, path, json=body, headers=headers)
        assert (response.status, response.body) == (503, UNAVAILABLE), (url, path)
        assert response.headers["Retry-After"] == "5"
        assert b"Traceback" not in response.body


async def test_unreachable_redis_is_unhealthy_but_the_api_answers(make_client: object) -> None:
    client: ContractClient = await make_client(redis_url="redis://127.0.0.1:1/0")  # type: ignore[operator]
    assert (await client.get("/up")).status == 503
    response = await client.post("/api/login", json={"login": "nobody", "password": "x"})
    assert response.status == 422  # throttles fell back to this process; the API keeps answering
