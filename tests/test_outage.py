"""A database that does not answer: 503 JSON with Retry-After, never a traceback; /up reports it."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sanctum_py.app import create_app
from sanctum_py.db.migrate import migrate
from sanctum_py.settings import Settings
from tests.conftest import (
    BACKENDS,
    MYSQL_ADMIN_URL,
    POSTGRES_ADMIN_URL,
    TEST_APP_KEY,
    ClientFactory,
    _create_postgres,
    _drop_postgres,
    _mysql,
    _swap_database,
)
from tests.support.api import JSON_HEADERS, bearer, register, registration
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


# --- the database dropped while the app serves -----------------------------------------------------
# Each test drops a database of its own (never the run's shared one), then creates it again.


@pytest.fixture(params=[b for b in ("postgres", "mariadb") if b in BACKENDS])
async def own_database(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """(backend, url) of a migrated database made for this test alone, dropped at the end."""
    backend = str(request.param)
    name = f"sanctum_drop_{secrets.token_hex(4)}"
    url = await _create_database(backend, name)
    try:
        yield backend, url
    finally:
        await _drop_database(backend, name)


async def _create_database(backend: str, name: str) -> str:
    if backend == "postgres":
        await _create_postgres(name)
        url = _swap_database(POSTGRES_ADMIN_URL, name)
    else:
        await _mysql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        url = _swap_database(MYSQL_ADMIN_URL, name)
    await migrate(url)
    return url


async def _drop_database(backend: str, name: str) -> None:
    if backend == "postgres":
        await _drop_postgres(name)  # WITH (FORCE): the app's connections are ended, as a DBA's drop would
    else:
        await _mysql(f"DROP DATABASE IF EXISTS `{name}`")


RECREATE = (
    "import asyncio, sys; from tests.test_outage import _create_database; asyncio.run(_create_database(*sys.argv[1:]))"
)


async def test_a_dropped_database_is_a_503_and_up_reports_it(
    make_client: ClientFactory, own_database: tuple[str, str]
) -> None:
    backend, url = own_database
    name = url.rsplit("/", 1)[1]
    # TOKEN_CACHE=off: /api/me must ask the database, not a cache of what it said before.
    client = await make_client(database_url=url, token_cache="off", database_timeout=2)
    token = (await register(client)).json()["access_token"]
    assert (await client.get("/api/me", headers=bearer(token))).status == 200
    assert (await client.get("/up")).status == 200

    await _drop_database(backend, name)
    for method, path, body in (
        ("GET", "/up", None),
        ("GET", "/api/me", None),
        ("POST", "/api/login", {"login": "ahmetyilmaz", "password": "password123"}),
        ("POST", "/api/register", registration(username="second", email="second@example.com")),
        ("GET", "/up", None),
    ):
        response = await client.request(method, path, json=body, headers={**JSON_HEADERS, **bearer(token)})
        assert (response.status, response.body) == (503, UNAVAILABLE), (backend, method, path, response.body)
        assert response.headers["Retry-After"] == "5"

    # The database is back (restored, migrated): the same app serves again, no restart. Migrated from
    # another process: migrate() in this one would reset the app's Tortoise connections.
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", RECREATE, backend, name], check=True, timeout=60)
    for _ in range(50):
        if (await client.get("/up")).status == 200:
            break
        await asyncio.sleep(0.1)
    assert (await client.get("/up")).status == 200
    assert (await register(client)).status == 201
