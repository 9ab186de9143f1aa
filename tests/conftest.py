"""Fixtures: the API suite runs against real SQLite, PostgreSQL and MariaDB databases and a real Redis.

Each test run creates its own databases (`sanctum_test_<run id>`) on the servers named by
TEST_POSTGRES_URL / TEST_MYSQL_URL (defaults: the local servers every development and CI machine has)
and drops them at the end, so two runs never collide. An unreachable server fails the run: set
SANCTUM_TEST_BACKENDS=sqlite to choose fewer backends deliberately, never silently.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncmy
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from tortoise import connections

from sanctum_py.app import create_app
from sanctum_py.db.migrate import migrate
from sanctum_py.observability.access_log import SafeAccessLogger
from sanctum_py.settings import Settings
from tests.support.contract import ContractClient

RUN_ID = secrets.token_hex(4)
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root:@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = [b.strip() for b in os.environ.get("SANCTUM_TEST_BACKENDS", "sqlite,postgres,mariadb").split(",")]
TEST_APP_KEY = "base64:1oZSECVBtWwUcL3mQQmv7fdDJT042gsQCCDR8WVOlrQ="
# The whole suite logs at DEBUG into a file that must hold none of the secrets it sees (tests/support/secret_scan.py).
pytest_plugins = ["tests.support.secret_scan"]


TABLES = ("personal_access_tokens", "password_reset_tokens", "refresh_tokens", "two_factor_challenges", "users")


def _swap_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _create_postgres(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_postgres(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _mysql_params() -> dict[str, Any]:
    rest = MYSQL_ADMIN_URL.split("://", 1)[1]
    credentials, hostpart = rest.split("@", 1)
    user, _, password = credentials.partition(":")
    host, _, port = hostpart.split("/", 1)[0].partition(":")
    return {"host": host, "port": int(port or 3306), "user": user, "password": password}


async def _mysql(statement: str) -> None:
    connection = await asyncmy.connect(**_mysql_params())
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per backend for the whole run."""
    name = f"sanctum_test_{RUN_ID}"
    urls: dict[str, str] = {}
    if "sqlite" in BACKENDS:
        urls["sqlite"] = f"sqlite://{tmp_path_factory.mktemp('sqlite') / 'test.sqlite'}"
    if "postgres" in BACKENDS:
        asyncio.run(_create_postgres(name))
        urls["postgres"] = _swap_database(POSTGRES_ADMIN_URL, name)
    if "mariadb" in BACKENDS:
        asyncio.run(_mysql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        urls["mariadb"] = _swap_database(MYSQL_ADMIN_URL, name)
    for url in urls.values():
        asyncio.run(migrate(url))
    yield urls
    if "postgres" in urls:
        asyncio.run(_drop_postgres(name))
    if "mariadb" in urls:
        asyncio.run(_mysql(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, database_urls: dict[str, str]) -> str:
    return database_urls[backend]


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "app_key": TEST_APP_KEY,
            "bcrypt_rounds": 4,
            "redis_prefix": f"sanctum_test_{RUN_ID}_{secrets.token_hex(4)}:",
            **overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


async def truncate_tables() -> None:
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    for table in TABLES:
        quoted = f"`{table}`" if dialect == "mysql" else f'"{table}"'
        await connection.execute_script(f"DELETE FROM {quoted}")


ClientFactory = Callable[..., Awaitable[ContractClient]]


@pytest.fixture
async def make_client(
    aiohttp_client: Callable[[TestServer], Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
) -> AsyncIterator[ClientFactory]:
    """Start an app with the given setting overrides on a clean database; every response it
    receives is checked against openapi.yaml."""
    first = True

    async def factory(**overrides: Any) -> ContractClient:
        nonlocal first
        # The access log `serve` writes with ACCESS_LOG=true, not aiohttp's default (which quotes query
        # strings). Started here: aiohttp_client's server_kwargs never reach the runner.
        server = TestServer(create_app(make_settings(**overrides)))
        await server.start_server(access_log_class=SafeAccessLogger)
        client = await aiohttp_client(server)
        if first:
            await truncate_tables()
            first = False
        return ContractClient(client)

    yield factory


@pytest.fixture
async def client(make_client: ClientFactory) -> ContractClient:
    return await make_client()
