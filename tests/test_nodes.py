"""Several workers and nodes on one PostgreSQL + one Redis, as behind a load balancer.

Each server here is a real `python -m sanctum_py serve` subprocess configured only by environment variables,
on a PostgreSQL database this module creates and migrates with `python -m sanctum_py migrate` (as an operator
does once, before rolling out). Two nodes on two ports share DATABASE_URL, REDIS_URL, REDIS_PREFIX and APP_KEY,
with TOKEN_CACHE left at `auto` (on in every process, invalidated through Redis): a token is good on either, a
logout on one is a 401 on the other in the very next request, and both rate limits count across them. Then
`serve --workers 2`: two processes share one port, both answer, and a logout through one is a 401 through the
other. Every request names its client address in X-Forwarded-For (127.0.0.1 is a trusted proxy, as a balancer
would be), so each test has its own per-IP buckets.
"""

from __future__ import annotations

import asyncio
import http.client
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    BACKENDS,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    RUN_ID,
    TEST_APP_KEY,
    _create_postgres,
    _drop_postgres,
    _swap_database,
)
from tests.support.api import registration
from tests.support.coherence import forget_redis_prefix
from tests.support.servers import (
    ServerProcess,
    call,
    children_of,
    listeners,
    owner_of,
    run_cli,
    server_environment,
)

pytestmark = pytest.mark.skipif(
    "postgres" not in BACKENDS, reason="shared-database nodes need PostgreSQL, left out by SANCTUM_TEST_BACKENDS"
)

API_RATE_LIMIT = 10  # small, so crossing it takes few requests
UNAUTHENTICATED = b'{"message":"Unauthenticated."}'
TOO_MANY = b'{\n    "message": "Too Many Attempts."\n}'
CONNECTIONS = 16  # new connections spread over `--workers 2`; all on one worker has odds 2 * 2**-16


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]  # what every node is started with
    cwd: Path  # where they run (no .env there: the environment is the whole configuration)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The settings every node shares: one migrated PostgreSQL database, one Redis prefix, one APP_KEY."""
    name = f"sanctum_test_{RUN_ID}_nodes"
    prefix = f"sanctum_test_{RUN_ID}_nodes_{secrets.token_hex(4)}:"
    cwd = tmp_path_factory.mktemp("nodes")
    asyncio.run(_create_postgres(name))
    env = server_environment(
        database_url=_swap_database(POSTGRES_ADMIN_URL, name),
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        app_key=TEST_APP_KEY,
        trusted_proxies="127.0.0.1",
        api_rate_limit=str(API_RATE_LIMIT),
        bcrypt_rounds="4",
        log_level="WARNING",
        mail_file_path=str(cwd / "mail"),
    )
    try:
        migrated = run_cli(cwd, env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        yield Cluster(env, cwd)
    finally:
        asyncio.run(_drop_postgres(name))
        forget_redis_prefix(REDIS_URL, prefix)


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two single-process nodes on two ports, as two machines behind a balancer."""
    started: list[ServerProcess] = []
    try:
        for _ in range(2):
            started.append(ServerProcess(cluster.cwd, cluster.env))
        for server in started:
            server.wait_up()
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


Link = http.client.HTTPConnection


@pytest.fixture
def links(nodes: tuple[ServerProcess, ServerProcess]) -> Iterator[tuple[Link, Link]]:
    """A kept-alive connection to each node."""
    a, b = nodes[0].connect(), nodes[1].connect()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def sign_up(connection: http.client.HTTPConnection, name: str, client_ip: str) -> tuple[dict[str, Any], str]:
    """Register a user named `name`; its body and token."""
    body = registration(username=name, email=f"{name}@example.com")
    reply = call(connection, "POST", "/api/register", body, client_ip=client_ip)
    assert reply.status == 201, reply.body
    payload = reply.json()
    assert isinstance(payload, dict)
    return payload, str(payload["access_token"])


# --- two nodes, one database, one Redis ---------------------------------------------------------------------


def test_a_token_issued_by_one_node_works_on_the_other(links: tuple[Link, Link]) -> None:
    a, b = links
    registered, token = sign_up(a, "nodeone", "203.0.113.1")
    me = call(b, "GET", "/api/me", token=token, client_ip="203.0.113.1")
    assert me.status == 200 and me.json()["id"] == registered["data"]["id"]  # type: ignore[index]
    signed_in = call(b, "POST", "/api/login", {"login": "nodeone", "password": "password123"}, client_ip="203.0.113.1")
    assert signed_in.status == 200, signed_in.body
    other_token = str(signed_in.json()["access_token"])  # type: ignore[index]
    assert call(a, "GET", "/api/me", token=other_token, client_ip="203.0.113.1").body == me.body


def test_logout_on_one_node_is_a_401_on_the_other_at_once(links: tuple[Link, Link]) -> None:
    a, b = links
    _, token = sign_up(a, "nodetwo", "203.0.113.2")
    for _ in range(3):  # B has just verified the token: a cache, if B kept one, would hold it now
        assert call(b, "GET", "/api/me", token=token, client_ip="203.0.113.2").status == 200
    logout = call(a, "POST", "/api/logout", token=token, client_ip="203.0.113.2")
    assert (logout.status, logout.body) == (200, b'{"message":"Logged out successfully"}')
    after = call(b, "GET", "/api/me", token=token, client_ip="203.0.113.2")  # no sleep: the very next request
    assert (after.status, after.body) == (401, UNAUTHENTICATED)


def test_the_api_rate_limit_is_counted_across_nodes(links: tuple[Link, Link]) -> None:
    a, b = links
    _, token = sign_up(a, "nodethree", "203.0.113.3")  # anonymous: the address's bucket, not the user's
    remaining = []
    for n in range(API_RATE_LIMIT):
        reply = call((a, b)[n % 2], "GET", "/api/me", token=token, client_ip="203.0.113.3")
        assert reply.status == 200
        assert reply.headers["X-RateLimit-Limit"] == str(API_RATE_LIMIT)
        remaining.append(int(reply.headers["X-RateLimit-Remaining"]))
    assert remaining == list(range(API_RATE_LIMIT - 1, -1, -1))  # one bucket, counted down by both nodes
    for connection in (a, b):
        refused = call(connection, "GET", "/api/me", token=token, client_ip="203.0.113.3")
        assert (refused.status, refused.body) == (429, TOO_MANY)
        assert refused.headers["X-RateLimit-Remaining"] == "0" and int(refused.headers["Retry-After"]) > 0


def test_the_login_throttle_is_counted_across_nodes(links: tuple[Link, Link]) -> None:
    a, b = links
    sign_up(a, "nodefour", "203.0.113.40")
    wrong = {"login": "nodefour", "password": "wrong-password"}
    for n in range(5):  # LOGIN_MAX_ATTEMPTS: 5 a minute per login + IP, split over both nodes
        reply = call((a, b)[n % 2], "POST", "/api/login", wrong, client_ip="203.0.113.4")
        assert reply.status == 422, reply.body
    right = {"login": "nodefour", "password": "password123"}
    for connection in (b, a):  # the sixth attempt is refused on either node, even with the right password
        refused = call(connection, "POST", "/api/login", right, client_ip="203.0.113.4")
        assert (refused.status, refused.body) == (429, TOO_MANY)
        assert refused.headers["X-RateLimit-Limit"] == "5"
    elsewhere = call(b, "POST", "/api/login", right, client_ip="203.0.113.41")  # another address is not locked out
    assert elsewhere.status == 200, elsewhere.body


# --- several workers on one port -------------------------------------------------------------------------------


def test_workers_share_one_port_and_see_each_others_logouts(cluster: Cluster) -> None:
    """`serve --workers 2`: without Redis, the worker count alone turns TOKEN_CACHE=auto off."""
    env = {key: value for key, value in cluster.env.items() if key != "REDIS_URL"}
    server = ServerProcess(cluster.cwd, env, "--workers", "2")
    opened: list[http.client.HTTPConnection] = []
    try:
        server.wait_up()
        workers = _wait_for_listeners(server, count=2)
        owners: dict[int, http.client.HTTPConnection] = {}
        for _ in range(CONNECTIONS):  # the kernel hashes each new connection to one of the listeners
            connection = server.connect()
            opened.append(connection)
            assert call(connection, "GET", "/up").status == 200
            owners.setdefault(owner_of(connection, workers, server.port), connection)
        assert set(owners) == set(workers), "both workers answer requests"

        first, second = (owners[pid] for pid in workers)
        _, token = sign_up(first, "workerone", "203.0.113.5")
        assert call(second, "GET", "/api/me", token=token, client_ip="203.0.113.5").status == 200
        assert owner_of(first, workers, server.port) != owner_of(second, workers, server.port)  # still kept alive
        assert call(first, "POST", "/api/logout", token=token, client_ip="203.0.113.5").status == 200
        after = call(second, "GET", "/api/me", token=token, client_ip="203.0.113.5")
        assert (after.status, after.body) == (401, UNAUTHENTICATED)
    finally:
        for connection in opened:
            connection.close()
        returncode = server.stop()
    assert returncode == 0, server.output()  # SIGTERM to the parent stopped both workers cleanly


def _wait_for_listeners(server: ServerProcess, count: int) -> list[int]:
    """The worker pids, once `count` children of the parent listen on the port (/up answers from the first)."""
    deadline = time.monotonic() + 30
    while True:
        workers = sorted(listeners(children_of(server.pid), server.port))
        if len(workers) == count:
            return workers
        assert time.monotonic() < deadline, (workers, server.output())
        time.sleep(0.1)
