"""A soak: 64 connections of /api/me, login and refresh for 60 s. Any error? Does the server's RSS grow?

    .venv/bin/python bench/soak.py [--duration 60] [--connections 64] [--databases sqlite,postgres] [--json out.json]

For each database: a fresh database and the service with REFRESH_TOKENS=true, then, all at once for
--duration seconds:
- wrk, GET /api/me with one user's token (the connections left over by the two loads below);
- wrk, POST /api/login with that user's password (--login-connections, default 4): each login writes
  a token, a refresh token and last_login_at;
- an aiohttp client (--refresh-connections, default 8): each connection has a user of its own and
  loops POST /api/refresh with the refresh token it got last (each one is used exactly once, as
  rotation requires), then GET /api/me with the new access token.
The server's VmRSS is read before the load, every --sample-seconds during it, and at the end.
Targets: 0 errors (any non-2xx, socket error or client exception), and RSS flat: the end within
RSS_MAX_GROWTH of the first sample (the first interval is the warm-up: caches, pools, buffers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    HOST,
    PASSWORD,
    RATE_LIMIT_OFF,
    BenchReport,
    Server,
    WrkResult,
    add_common_options,
    background_wrk,
    expect,
    finish_common_options,
    fresh_database,
    markdown,
    progress,
    register_user,
    request,
    rss_mb,
    run_bench,
    running,
    start_service,
    wait_ready,
    write_get_script,
    write_login_script,
)

RSS_MAX_GROWTH = 0.05  # end RSS within 5% of the first sample taken under load
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass
class RefreshStats:
    """What the Python client saw, in total and per sampling interval (a slowdown shows as a trend).

    Plain dicts, not Counters: dataclasses.asdict rebuilds a Counter from its items and counts them."""

    requests: dict[str, int] = field(default_factory=dict)  # kind -> 2xx responses
    errors: dict[str, int] = field(default_factory=dict)  # "kind status" or "kind ExceptionName" -> count
    per_interval: list[dict[str, int]] = field(default_factory=list)
    refresh_ms: list[float] = field(default_factory=list)  # each successful rotation's latency

    def ok(self, kind: str) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1

    def failed(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def refresh_percentile(self, percentile: float) -> float:
        ordered = sorted(self.refresh_ms)
        return ordered[min(int(len(ordered) * percentile), len(ordered) - 1)] if ordered else 0.0


@dataclass
class SoakRun:
    database: str
    seconds: float
    me: WrkResult
    login: WrkResult
    refresh: RefreshStats
    rss_start: float
    rss_samples: list[tuple[float, float]]  # (seconds since the load started, MiB)
    rss_end: float
    rss_peak: float

    @property
    def errors(self) -> int:
        return self.me.errors + self.login.errors + self.refresh.error_count

    @property
    def growth(self) -> float:
        """End RSS relative to the first sample under load."""
        first = self.rss_samples[0][1] if self.rss_samples else self.rss_start
        return (self.rss_end - first) / first


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    login_connections: int
    refresh_connections: int
    sample_seconds: float
    bcrypt_rounds: int
    postgres_url: str
    service_env: dict[str, str]

    @property
    def me_connections(self) -> int:
        return self.connections - self.login_connections - self.refresh_connections


# --- the refresh client --------------------------------------------------------------------------


async def refresh_chain(
    session: aiohttp.ClientSession, base: str, refresh_token: str, deadline: float, stats: RefreshStats
) -> None:
    """One connection's loop: rotate, use the new access token, rotate with the new refresh token."""
    while time.monotonic() < deadline:
        try:
            started = time.perf_counter()
            async with session.post(f"{base}/api/refresh", json={"refresh_token": refresh_token}) as response:
                body = await response.read()
                if response.status != 200:
                    stats.failed(f"refresh {response.status}")
                    return  # this chain's token is gone: nothing sensible left to send
                stats.ok("refresh")
                stats.refresh_ms.append((time.perf_counter() - started) * 1000)
            pair: dict[str, Any] = json.loads(body)
            refresh_token = str(pair["refresh_token"])
            headers = {"Authorization": f"Bearer {pair['access_token']}", "Accept": "application/json"}
            async with session.get(f"{base}/api/me", headers=headers) as response:
                await response.read()
                if response.status != 200:
                    stats.failed(f"me (refreshed) {response.status}")
                else:
                    stats.ok("me (refreshed)")
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as error:
            stats.failed(f"refresh {type(error).__name__}")
            return


async def client_load(
    service: Server, refresh_tokens: list[str], options: Options, stats: RefreshStats
) -> list[tuple[float, float]]:
    """The refresh chains for --duration, sampling the server's RSS every --sample-seconds meanwhile."""
    started = time.monotonic()
    deadline = started + options.duration
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=options.refresh_connections)
    samples: list[tuple[float, float]] = []
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers={"Accept": "application/json"}
    ) as session:
        chains = [
            asyncio.create_task(refresh_chain(session, service.url, token, deadline, stats)) for token in refresh_tokens
        ]
        previous: dict[str, int] = {}
        while time.monotonic() < deadline:
            await asyncio.sleep(min(options.sample_seconds, max(deadline - time.monotonic(), 0)))
            elapsed = time.monotonic() - started
            samples.append((round(elapsed, 1), rss_mb(service.process.pid)))
            stats.per_interval.append({kind: count - previous.get(kind, 0) for kind, count in stats.requests.items()})
            previous = dict(stats.requests)
            progress(f"  {elapsed:5.1f} s  RSS {samples[-1][1]:6.1f} MB  refresh client {dict(stats.requests)}")
        await asyncio.gather(*chains)
    return samples


# --- a run ---------------------------------------------------------------------------------------


def bench_database(kind: str, workdir: Path, options: Options) -> SoakRun:
    env = {
        **options.service_env,
        "REFRESH_TOKENS": "true",
        # One rotation per family per 30 s is the default; each chain here rotates as fast as it can.
        "REFRESH_THROTTLE_SECONDS": "0",
        # Access tokens live ACCESS_TOKEN_MINUTES: the /api/me token must outlive the soak.
        "ACCESS_TOKEN_MINUTES": str(max(60, options.duration // 60 + 10)),
        "LOGIN_MAX_ATTEMPTS": RATE_LIMIT_OFF,
        "LOGIN_MAX_FAILURES_PER_HOUR": RATE_LIMIT_OFF,
        "BCRYPT_ROUNDS": str(options.bcrypt_rounds),
    }
    with (
        fresh_database(kind, workdir, options.postgres_url) as url,
        running(start_service(workdir, url, env, kind)) as service,
    ):
        wait_ready(service, "/api/me")
        login, token = register_user(service.port)
        status, body = request(service.port, "POST", "/api/login", {"login": login, "password": PASSWORD})
        expect(status, body, 200, "login")
        refresh_tokens = [_refresh_token(service) for _ in range(options.refresh_connections)]
        me_script = write_get_script(workdir / f"me_{kind}.lua", token)
        login_script = write_login_script(workdir / f"login_{kind}.lua", login)
        rss_start = rss_mb(service.process.pid)
        progress(f"[{kind}] soak: {options.duration} s, {options.connections} connections, RSS {rss_start:.1f} MB")
        stats = RefreshStats()
        started = time.monotonic()
        me_url, login_url = f"{service.url}/api/me", f"{service.url}/api/login"
        with (
            background_wrk(me_url, me_script, options.me_connections, options.duration) as me,
            background_wrk(login_url, login_script, options.login_connections, options.duration) as logins,
        ):
            samples = asyncio.run(client_load(service, refresh_tokens, options, stats))
            me_result, login_result = me.stop(early=False), logins.stop(early=False)
        seconds = time.monotonic() - started
        rss_end, rss_peak = rss_mb(service.process.pid), rss_mb(service.process.pid, "VmHWM")
    run = SoakRun(kind, seconds, me_result, login_result, stats, rss_start, samples, rss_end, rss_peak)
    progress(
        f"  /api/me {me_result.requests} ({me_result.errors} errors), login {login_result.requests} "
        f"({login_result.errors} errors), refresh client {dict(stats.requests)} errors {dict(stats.errors)}; "
        f"RSS {rss_start:.1f} -> {rss_end:.1f} MB"
    )
    return run


def _refresh_token(service: Server) -> str:
    """A user of its own per refresh chain (register answers with a refresh token when they are on)."""
    username = f"soak_{time.monotonic_ns()}"
    fields = {"name": "Soak", "username": username, "email": f"{username}@example.com"}
    status, body = request(
        service.port, "POST", "/api/register", {**fields, "password": PASSWORD, "password_confirmation": PASSWORD}
    )
    return str(expect(status, body, 201, "register")["refresh_token"])


# --- output --------------------------------------------------------------------------------------


def table(runs: Sequence[SoakRun]) -> str:
    rows = []
    for run in runs:
        samples = ", ".join(f"{mb:.1f}" for _, mb in run.rss_samples)
        flat = run.growth <= RSS_MAX_GROWTH
        rows.append(
            [
                f"soak {run.database} {run.seconds:.0f} s",
                f"{run.me.requests:,} ({run.me.p99_ms:.1f} ms p99)",
                f"{run.login.requests:,} ({run.login.p99_ms:.1f} ms p99)",
                f"{run.refresh.requests.get('refresh', 0):,} ({run.refresh.refresh_percentile(0.99):.1f} ms p99)"
                f" + {run.refresh.requests.get('me (refreshed)', 0):,} me",
                f"{run.errors}" + (f" {dict(run.refresh.errors)}" if run.refresh.errors else ""),
                f"{run.rss_start:.1f} → [{samples}] → {run.rss_end:.1f} (peak {run.rss_peak:.1f})",
                f"{run.growth * 100:+.1f}%",
                "yes" if flat and not run.errors else "**NO**",
            ]
        )
    headers = [
        "run",
        "/api/me (wrk)",
        "login (wrk)",
        "refresh (client)",
        "errors",
        "RSS MB start → every interval → end",
        "RSS growth after first sample",
        f"0 errors, growth <= {RSS_MAX_GROWTH * 100:.0f}%?",
    ]
    return markdown(headers, rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    parser.add_argument("--connections", type=int, default=64, help="connections in all (default 64)")
    parser.add_argument("--login-connections", type=int, default=4, help="of which wrk on login (default 4)")
    parser.add_argument("--refresh-connections", type=int, default=8, help="of which refresh chains (default 8)")
    parser.add_argument("--sample-seconds", type=float, default=10, help="RSS sampling interval (default 10)")
    parser.add_argument("--bcrypt-rounds", type=int, default=10, help="BCRYPT_ROUNDS (default 10, as run.py)")
    add_common_options(parser)
    args = parser.parse_args(argv)
    finish_common_options(parser, args)
    if min(args.duration, args.login_connections, args.refresh_connections, args.sample_seconds) <= 0:
        parser.error("--duration, --sample-seconds and the connection counts must be > 0")
    if args.connections - args.login_connections - args.refresh_connections < 2:
        parser.error("--connections must leave at least 2 for /api/me")
    return args


def measure(databases: Sequence[str], options: Options) -> list[SoakRun]:
    with tempfile.TemporaryDirectory(prefix="sanctum_soak_") as tmp:
        return [bench_database(kind, Path(tmp), options) for kind in databases]


def report(runs: list[SoakRun], options: Options) -> BenchReport:
    payload = {
        "options": asdict(options),
        "runs": [{**asdict(run), "errors": run.errors, "growth": run.growth} for run in runs],
    }
    return BenchReport(table(runs), payload)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        args.duration,
        args.connections,
        args.login_connections,
        args.refresh_connections,
        args.sample_seconds,
        args.bcrypt_rounds,
        args.postgres_url,
        args.service_env,
    )
    banner = f"; load goes to {HOST} only"
    return run_bench(args, lambda: measure(args.databases, options), lambda runs: report(runs, options), banner)


if __name__ == "__main__":
    sys.exit(main())
