"""Unknown user and wrong password look the same at /api/login: same bytes, same time.

A real bcrypt cost (10, Laravel's default) makes the password check dominate, as it does in production,
so a path that skips it, runs a cheaper dummy hash or does extra work shows up in the medians. Every
attempt comes from its own address (X-Forwarded-For from a trusted 127.0.0.1), so neither the login
throttle (5 a minute per login + IP) nor the API limit (60 a minute per IP) ever answers 429; the account's
hourly budget is raised above the number of wrong passwords. The two kinds are interleaved, alternating
which goes first, so a machine that slows down mid-test slows both alike.

On a busy machine (two cores shared with other test runs) one bcrypt check varies by tens of percent, enough
to push two medians of 50 apart by chance. So the comparison is made after each round of 50 pairs, on all
pairs so far, for at most MAX_ROUNDS rounds: noise shrinks as samples grow, a real difference does not (the
skipped dummy check this test was written against made unknown users 98% faster).

SQLite and PostgreSQL only: 100+ logins at cost 10 take about 9 s per backend, and MariaDB adds nothing
to what is compared here (the same queries and limiter calls run on every backend).
"""

from __future__ import annotations

import statistics
import time

import pytest

from tests.conftest import BACKENDS, ClientFactory
from tests.support.api import JSON_HEADERS, register
from tests.support.contract import ContractClient, WireResponse

ATTEMPTS = 50  # pairs per round; the medians always cover at least this many of each kind
MAX_ROUNDS = 3
WARM_UP = 3  # pairs not measured: first connections, first queries
INVALID = b'{"message":"The given data was invalid.","errors":{"login":["Invalid credentials."]}}'


async def attempt(client: ContractClient, login: str, address: str) -> tuple[float, WireResponse]:
    headers = {**JSON_HEADERS, "X-Forwarded-For": address}
    started = time.perf_counter()
    response = await client.post("/api/login", json={"login": login, "password": "wrong-password"}, headers=headers)
    return time.perf_counter() - started, response


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "mariadb"])
async def test_unknown_user_and_wrong_password_take_the_same_time(make_client: ClientFactory) -> None:
    client = await make_client(bcrypt_rounds=10, trusted_proxies=["127.0.0.1"], login_max_failures_per_hour=1000)
    await register(client)
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    bodies: dict[str, set[bytes]] = {"unknown": set(), "wrong": set()}
    medians: tuple[float, float] = (0.0, 0.0)
    for n in range(WARM_UP + ATTEMPTS * MAX_ROUNDS):
        order = ("unknown", "wrong") if n % 2 else ("wrong", "unknown")
        for kind in order:
            login = "ahmetyilmaz" if kind == "wrong" else f"nobody{n}"
            address = f"10.{n // 250}.{n % 250}.{1 if kind == 'wrong' else 2}"
            elapsed, response = await attempt(client, login, address)
            assert response.status == 422, response.text
            bodies[kind].add(response.body)
            if n >= WARM_UP:
                timings[kind].append(elapsed)
        if n >= WARM_UP and (n + 1 - WARM_UP) % ATTEMPTS == 0:
            medians = statistics.median(timings["unknown"]), statistics.median(timings["wrong"])
            if spread(*medians) < 0.05:
                break
    assert bodies == {"unknown": {INVALID}, "wrong": {INVALID}}
    unknown, wrong = medians
    assert spread(unknown, wrong) < 0.05, (
        f"medians over {len(timings['wrong'])} pairs: unknown {unknown * 1000:.1f} ms, wrong {wrong * 1000:.1f} ms"
    )
    assert min(unknown, wrong) > 0.02, "bcrypt at cost 10 should dominate both"


def spread(a: float, b: float) -> float:
    return abs(a - b) / max(a, b)
