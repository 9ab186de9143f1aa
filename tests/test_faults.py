"""Outages under load, through a TCP proxy the test cuts: PostgreSQL, MariaDB and Redis.

The service runs in-process on its real drivers; only the network between it and the server breaks,
in both ways networks break (tests/support/tcp_proxy.py): refused connections (a crash or restart),
and a black hole that accepts and never answers (a partition), where only the service's own
timeouts end a request. Each test goes through both, one after the other, on one running app: the
second outage also proves the first left nothing stale behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from sanctum_py.core.login import login_subject
from sanctum_py.core.ratelimit import RedisRateLimiter
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import BACKENDS, REDIS_URL, ClientFactory
from tests.support.api import JSON_HEADERS, bearer, register, registration
from tests.support.contract import ContractClient, WireResponse
from tests.support.tcp_proxy import Mode, TcpProxy, proxy_for, through

UNAVAILABLE = b'{\n    "message": "Service Unavailable."\n}'
TOO_MANY = b'{\n    "message": "Too Many Attempts."\n}'
DATABASE_TIMEOUT = 1.0  # the apps' DATABASE_TIMEOUT: short, so a black-hole outage is quick to prove
REDIS_TIMEOUT = 1.0  # the service's Redis socket timeout (core/container.py)
SLACK = 0.75  # on two shared cores, time a request may need on top of the timeout that ends it
RECOVERY = 5.0  # requests succeed again at most this long after the proxy is restored
WORKERS = 6
MODES: tuple[Mode, ...] = ("reset", "blackhole")


@dataclass
class Outcome:
    worker: int
    path: str
    started: float
    ended: float
    response: WireResponse

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.response.status in (200, 201)


@dataclass
class Acknowledged:
    """Writes the service confirmed: they must outlive any outage."""

    users: dict[str, str] = field(default_factory=dict)  # username -> password, from a 201
    tokens: dict[str, str] = field(default_factory=dict)  # token -> username, from a 201 or a 200 login


Script = Callable[["Load", int], Awaitable[None]]


class Load:
    """WORKERS concurrent loops of `script`, every answer recorded with its timing."""

    def __init__(self, client: ContractClient, script: Script, bound: float) -> None:
        self.client = client
        self.script = script
        self.bound = bound
        self.outcomes: list[Outcome] = []
        self.acknowledged = Acknowledged()
        self.stopping = asyncio.Event()
        self._answered = asyncio.Event()  # set at each new outcome
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(worker)) for worker in range(WORKERS)]

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self._tasks)

    async def _loop(self, worker: int) -> None:
        while not self.stopping.is_set():
            await self.script(self, worker)

    async def call(self, worker: int, method: str, path: str, **kwargs: Any) -> WireResponse:
        started = time.monotonic()
        async with asyncio.timeout(self.bound + 5):  # a hang fails the test instead of stalling the suite
            response = await self.client.request(method, path, **kwargs)
        self.outcomes.append(Outcome(worker, path, started, time.monotonic(), response))
        self._answered.set()
        return response

    async def until(self, condition: Callable[[], bool], seconds: float) -> None:
        """Wait, at most `seconds`, for the outcomes so far to satisfy `condition`."""
        async with asyncio.timeout(seconds):
            while not condition():
                self._answered.clear()
                await self._answered.wait()

    def successes_since(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment and o.ok]

    async def warm(self) -> None:
        """Until every worker has been answered normally twice (pools open, caches filled)."""
        await self.until(
            lambda: all(sum(o.worker == w and o.ok for o in self.outcomes) >= 2 for w in range(WORKERS)), 15
        )

    async def cut(self, proxy: TcpProxy, mode: Mode) -> float:
        """Cut the proxy under load; returns when it was cut."""
        await asyncio.sleep(0.3)
        proxy.cut(mode)
        return time.monotonic()

    async def settle(self, cut_at: float) -> None:
        """Until every worker has had a request begin and end after the cut."""
        await self.until(
            lambda: {o.worker for o in self.outcomes if o.started >= cut_at} == set(range(WORKERS)), 4 * self.bound
        )

    async def outage(self, proxy: TcpProxy, mode: Mode) -> tuple[float, float]:
        """Cut the proxy, let every worker meet the outage, restore it: (cut at, restored at)."""
        cut_at = await self.cut(proxy, mode)
        await self.settle(cut_at)
        await proxy.restore()
        return cut_at, time.monotonic()

    async def recovery(self, restored_at: float) -> float:
        """Seconds from the restore to the first success; the load then runs on a little, to be judged."""
        await self.until(lambda: bool(self.successes_since(restored_at)), RECOVERY + self.bound)
        await asyncio.sleep(0.5)
        return min(o.ended for o in self.successes_since(restored_at)) - restored_at

    def within(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= start and o.ended <= end]

    def assert_recovered(self, restored_at: float) -> None:
        """Once one request succeeds after the restore, no later one fails: no stale pooled link."""
        first = min(o.ended for o in self.successes_since(restored_at))
        assert [(o.path, o.response.status) for o in self.outcomes if o.started >= first and not o.ok] == []


def assert_unavailable(outcome: Outcome) -> None:
    response = outcome.response
    assert (response.status, response.body) == (503, UNAVAILABLE), (outcome.path, response.status, response.body)
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"] == "application/json"


def assert_answered_in_time(load: Load) -> None:
    assert [(o.path, o.response.status, round(o.seconds, 2)) for o in load.outcomes if o.seconds > load.bound] == []


# --- the database ----------------------------------------------------------------------------------


@pytest.fixture(params=[b for b in BACKENDS if b != "sqlite"])  # SQLite is a file: no link to cut
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    async with proxy_for(database_url) as proxy:
        yield proxy


async def sign_up_and_in(load: Load, worker: int) -> None:
    """Register, log in, read /api/me: a write, a token, a read; each write remembered once acknowledged."""
    username = f"w{worker}n{len(load.outcomes)}"
    body = registration(username=username, email=f"{username}@example.com")
    registered = await load.call(worker, "POST", "/api/register", json=body, headers=JSON_HEADERS)
    if registered.status != 201:
        return
    load.acknowledged.users[username] = body["password"]
    load.acknowledged.tokens[registered.json()["access_token"]] = username
    credentials = {"login": username, "password": body["password"]}
    logged_in = await load.call(worker, "POST", "/api/login", json=credentials, headers=JSON_HEADERS)
    if logged_in.status != 200:
        return
    token = logged_in.json()["access_token"]
    load.acknowledged.tokens[token] = username
    await load.call(worker, "GET", "/api/me", headers=bearer(token))


async def assert_durable(client: ContractClient, acknowledged: Acknowledged) -> None:
    """Every acknowledged registration logs in and every acknowledged token works."""
    assert acknowledged.users and acknowledged.tokens

    async def logs_in(username: str, password: str) -> None:
        response = await client.post("/api/login", json={"login": username, "password": password}, headers=JSON_HEADERS)
        assert response.status == 200, (username, response.status, response.body)

    async def reads_me(token: str, username: str) -> None:
        response = await client.get("/api/me", headers=bearer(token))
        assert (response.status, response.json().get("username")) == (200, username), response.body

    await asyncio.gather(*(logs_in(*item) for item in acknowledged.users.items()))
    await asyncio.gather(*(reads_me(*item) for item in acknowledged.tokens.items()))


async def test_database_outages_under_load(
    make_client: ClientFactory, database_url: str, database_proxy: TcpProxy
) -> None:
    # One test IP sends all the load: only an outage may refuse it. The token cache would rightly
    # answer /api/me from memory during an outage; off, every request needs the database.
    unthrottled = {"api_rate_limit": 1_000_000}
    client = await make_client(
        database_url=through(database_url, database_proxy),
        database_timeout=DATABASE_TIMEOUT,
        token_cache="off",
        **unthrottled,
    )
    assert (await client.get("/up")).status == 200
    load = Load(client, sign_up_and_in, bound=DATABASE_TIMEOUT + SLACK)
    load.start()
    await load.warm()
    recoveries: dict[Mode, float] = {}
    for mode in MODES:
        cut_at, restored_at = await load.outage(database_proxy, mode)
        recoveries[mode] = await load.recovery(restored_at)
        # Whatever began and ended while the database was unreachable is exactly the documented 503.
        during = load.within(cut_at, restored_at)
        assert {o.worker for o in during} == set(range(WORKERS)), mode
        for outcome in during:
            assert_unavailable(outcome)
        assert recoveries[mode] <= RECOVERY, (mode, recoveries)
        load.assert_recovered(restored_at)
    await load.stop()

    # Whenever it came, each answer is the normal one or that 503, and none waited past the bound.
    for outcome in load.outcomes:
        if not outcome.ok:
            assert_unavailable(outcome)
    assert_answered_in_time(load)
    assert len(load.successes_since(0)) >= 4 * WORKERS

    # The acknowledged writes are in the database: checked from a fresh app, straight to the server.
    await client.raw.close()  # and the app shuts down cleanly after its outages
    await assert_durable(await make_client(**unthrottled), load.acknowledged)


# --- Redis -----------------------------------------------------------------------------------------


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    async with proxy_for(REDIS_URL) as proxy:
        yield proxy


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    yield connection
    await connection.aclose()


async def new_token(client: ContractClient, username: str) -> str:
    response = await register(client, username=username, email=f"{username}@example.com")
    return str(response.json()["access_token"])


async def until_healthy(client: ContractClient, seconds: float) -> None:
    """Poll /up until it answers 200, at most `seconds`."""
    async with asyncio.timeout(seconds):
        while True:
            if (await client.get("/up")).status == 200:
                return
            await asyncio.sleep(0.2)


async def assert_rate_limited(client: ContractClient, token: str, limit: int) -> None:
    """`limit` reads of /api/me pass, the next is Laravel's 429: a limit is enforced."""
    statuses = [(await client.get("/api/me", headers=bearer(token))).status for _ in range(limit)]
    assert statuses == [200] * limit
    refused = await client.get("/api/me", headers=bearer(token))
    assert (refused.status, refused.body) == (429, TOO_MANY)
    assert int(refused.headers["Retry-After"]) > 0


async def assert_login_throttled(client: ContractClient, login: str, attempts: int) -> None:
    wrong = {"login": login, "password": "wrong-password"}
    statuses = [(await client.post("/api/login", json=wrong, headers=JSON_HEADERS)).status for _ in range(attempts)]
    assert statuses == [422] * attempts
    refused = await client.post("/api/login", json=wrong, headers=JSON_HEADERS)
    assert (refused.status, refused.body) == (429, TOO_MANY)


@pytest.mark.parametrize("backend", BACKENDS[:1])  # the database is not what is cut here
async def test_redis_outages_under_load(make_client: ClientFactory, redis_proxy: TcpProxy, redis: Redis) -> None:
    limit, login_attempts = 30, 3
    client = await make_client(
        redis_url=through(REDIS_URL, redis_proxy), api_rate_limit=limit, login_max_attempts=login_attempts
    )
    limiter = client.app[SERVICES].limiter
    assert isinstance(limiter, RedisRateLimiter)
    tokens = [await new_token(client, f"reader{worker}") for worker in range(WORKERS)]
    assert await redis.exists(limiter.storage_key("api:ip:127.0.0.1"))  # Redis holds the limits while it answers

    async def paced_reads(load: Load, worker: int) -> None:
        """Each worker reads /api/me with its own token a few times a second, within its rate limit."""
        await load.call(worker, "GET", "/api/me", headers=bearer(tokens[worker]))
        await asyncio.sleep(0.25)

    load = Load(client, paced_reads, bound=REDIS_TIMEOUT + SLACK)
    load.start()
    await load.warm()
    for mode in MODES:
        burst_token = await new_token(client, f"burst{mode}")  # a user whose budget is untouched
        cut_at = await load.cut(redis_proxy, mode)
        # In-process limits take over: a budget is still enforced, and the login throttle too.
        await assert_rate_limited(client, burst_token, limit)
        await assert_login_throttled(client, f"guess{mode}", login_attempts)
        assert (await client.get("/up")).status == 503  # a balancer sees the worker is degraded
        await load.settle(cut_at)
        await redis_proxy.restore()
        # Redis is used again, without a restart: a new counter lands in it.
        restored_at = time.monotonic()
        key = limiter.storage_key(f"login:{login_subject(None, f'after{mode}')}|127.0.0.1")
        async with asyncio.timeout(RECOVERY):
            while not await redis.exists(key):
                await client.post("/api/login", json={"login": f"after{mode}", "password": "x"}, headers=JSON_HEADERS)
                await asyncio.sleep(0.2)
        await until_healthy(client, RECOVERY - (time.monotonic() - restored_at))  # a balancer takes it back
    await load.stop()

    # The API kept answering throughout: every read succeeded, none waited past Redis's timeout.
    assert [(o.path, o.response.status) for o in load.outcomes if not o.ok] == []
    assert_answered_in_time(load)
