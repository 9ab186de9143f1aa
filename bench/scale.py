"""Does /api/me slow down when personal_access_tokens is big? The same figure at 1,000 and 1,000,000 rows.

    .venv/bin/python bench/scale.py [--duration 10] [--databases sqlite,postgres] [--tokens 1000000] [--json out.json]

For each database: a fresh database and one user registered through the API (its token is the one
wrk presents), filled to 1,000 tokens (100 users) and copied; then the same database is filled to
1,000,000 tokens (100,000 users). A service on each (the copy, and the big one) answers /api/me, and
wrk loads them in turn, small and big alternating, so a burst of outside load hits both alike. This
is done with the token cache on, then off. With the cache on, the database is read once per
TOKEN_CACHE_SECONDS; with it off, every request reads the token and its user by primary key, so the
off figure is the one that shows the table's size. Target: the 1M figure within 10% of the 1k figure (ratio >= 0.90).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from common import (
    PASSWORD,
    BenchReport,
    WrkResult,
    add_common_options,
    finish_common_options,
    fresh_database,
    markdown,
    postgres_execute,
    progress,
    register_user,
    rss_mb,
    run_bench,
    run_wrk,
    running,
    start_service,
    wait_ready,
    write_get_script,
)
from fill import Fill, fill_database

MIN_RATIO = 0.90  # the 1M figure within 10% of the 1k figure
# label -> TOKEN_CACHE. `on`, not `auto`: without Redis, auto caches only on SQLite (a shared PostgreSQL may
# have other nodes); this one process owns its database, as `on` asserts.
CACHE_MODES = {"on": "on", "off": "off"}
TOKENS_PER_USER = 10


@dataclass
class Pass:
    database: str
    rows: int
    cache: str
    wrk: WrkResult  # the median of `runs` by req/s
    runs: list[WrkResult]
    rss_mb: float


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    warmup: int
    passes: int
    small: int
    large: int
    postgres_url: str
    service_env: dict[str, str]
    caches: tuple[str, ...]


@contextlib.contextmanager
def snapshot(kind: str, url: str, workdir: Path) -> Iterator[str]:
    """A copy of the database as it is now (no service running): the small database, kept while the
    original grows, so both sizes can be measured in alternation rather than minutes apart."""
    if kind == "sqlite":
        source = Path(url[len("sqlite://") :])
        copy = workdir / f"small_{source.name}"
        shutil.copyfile(source, copy)  # fill.py checkpointed the WAL: the main file is the whole database
        yield f"sqlite://{copy}"
        return
    server, name = url.rsplit("/", 1)
    copy_name = f"{name}_small"  # [a-z0-9_] only, as fresh_database's names
    admin_url = f"{server}/postgres"
    asyncio.run(postgres_execute(admin_url, f"CREATE DATABASE {copy_name} TEMPLATE {name}"))
    try:
        yield f"{server}/{copy_name}"
    finally:
        asyncio.run(postgres_execute(admin_url, f"DROP DATABASE IF EXISTS {copy_name} WITH (FORCE)"))


def measure_pair(
    workdir: Path, urls: dict[int, str], token: str, cache: str, options: Options, kind: str
) -> list[Pass]:
    """Both sizes served at once (one idle while the other is loaded), their passes alternating."""
    env = {**options.service_env, "TOKEN_CACHE": CACHE_MODES[cache]}
    script = write_get_script(workdir / "me.lua", token)
    runs: dict[int, list[WrkResult]] = {rows: [] for rows in urls}
    with contextlib.ExitStack() as stack:
        services = {
            rows: stack.enter_context(running(start_service(workdir, url, env, f"{kind}_{_short(rows)}_{cache}")))
            for rows, url in urls.items()
        }
        for service in services.values():
            wait_ready(service, "/api/me")
            # Connections, lazy imports, the first token load out of the way before anything is timed.
            run_wrk(service.url + "/api/me", script, options.connections, options.warmup)
        order = list(services)
        for number in range(options.passes):
            for rows in order if number % 2 == 0 else reversed(order):  # small, large; large, small; ...
                url = services[rows].url + "/api/me"
                runs[rows].append(run_wrk(url, script, options.connections, options.duration))
        rss = {rows: rss_mb(service.process.pid) for rows, service in services.items()}
    passes = []
    for rows, results in runs.items():
        median = sorted(results, key=lambda run: run.requests_per_second)[len(results) // 2]
        errors = f", {median.errors} errors" if median.errors else ""
        progress(
            f"  {_short(rows):>4} rows, cache {cache:<3}  {median.requests_per_second:>8.0f} req/s  "
            f"p50 {median.p50_ms:6.2f} ms  p99 {median.p99_ms:6.2f} ms{errors}"
        )
        passes.append(Pass(kind, rows, cache, median, results, rss[rows]))
    return passes


def bench_database(kind: str, workdir: Path, options: Options) -> tuple[list[Pass], dict[str, float]]:
    passes: list[Pass] = []
    fills: dict[str, float] = {}
    with fresh_database(kind, workdir, options.postgres_url) as url:
        with running(start_service(workdir, url, options.service_env, f"{kind}_setup")) as service:
            wait_ready(service, "/api/me")
            _, token = register_user(service.port)  # 1 user, 1 token: the one wrk presents, in both databases
        have_users, have_tokens = 1, 1
        urls: dict[int, str] = {}
        with contextlib.ExitStack() as stack:
            for rows in (options.small, options.large):
                users = max(rows // TOKENS_PER_USER, 1)
                progress(f"[{kind}] filling to {rows:,} tokens for {users:,} users")
                report = fill_database(url, Fill(users - have_users, rows - have_tokens, expired=False), PASSWORD)
                fills[str(rows)] = report.seconds
                progress(f"  filled {report.tokens:,} tokens, {report.users:,} users in {report.seconds:.1f} s")
                have_users, have_tokens = users, rows
                urls[rows] = stack.enter_context(snapshot(kind, url, workdir)) if rows == options.small else url
            for cache in options.caches:
                passes += measure_pair(workdir, urls, token, cache, options, kind)
    return passes, fills


def _short(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 and rows % 1_000_000 == 0 else f"{rows // 1000}k"


def table(passes: Sequence[Pass], options: Options) -> str:
    lines = []
    for kind in dict.fromkeys(p.database for p in passes):
        for cache in options.caches:
            small = next(p for p in passes if (p.database, p.cache, p.rows) == (kind, cache, options.small))
            large = next(p for p in passes if (p.database, p.cache, p.rows) == (kind, cache, options.large))
            ratio = large.wrk.requests_per_second / small.wrk.requests_per_second
            errors = small.wrk.errors + large.wrk.errors
            met = ratio >= MIN_RATIO and not errors
            lines.append(
                [
                    f"/api/me {kind} c{options.connections}, cache {cache}"
                    + (f" ⚠ {errors} failed requests" if errors else ""),
                    f"{small.wrk.requests_per_second:.0f}",
                    f"{small.wrk.p99_ms:.2f} ms",
                    f"{large.wrk.requests_per_second:.0f}",
                    f"{large.wrk.p99_ms:.2f} ms",
                    f"{large.rss_mb:.1f}",
                    f"{ratio:.2f}",
                    f">= {MIN_RATIO:.2f}",
                    "yes" if met else "**NO**",
                ]
            )
    s, big = _short(options.small), _short(options.large)
    headers = [
        "scenario",
        f"req/s {s}",
        f"p99 {s}",
        f"req/s {big}",
        f"p99 {big}",
        f"RSS MB {big}",
        f"ratio {big}/{s}",
        "target",
        "met?",
    ]
    return markdown(headers, lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed wrk pass (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed seconds of load per service start (default 2)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per size, alternating (default 3)")
    parser.add_argument("--small", type=int, default=1000, help="tokens in the small database (default 1000)")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens in the large one (default 1000000)")
    parser.add_argument("--cache", default="on,off", help="token cache modes to measure: on,off (default both)")
    add_common_options(parser)
    args = parser.parse_args(argv)
    finish_common_options(parser, args)
    args.cache = tuple(name.strip() for name in args.cache.split(",") if name.strip())
    if set(args.cache) - set(CACHE_MODES) or not args.cache:
        parser.error("--cache takes on,off")
    if min(args.duration, args.connections, args.warmup, args.passes) < 1:
        parser.error("--duration, --connections, --warmup and --passes must be >= 1")
    if not 10 <= args.small < args.tokens:
        parser.error("need 10 <= --small < --tokens")
    return args


def measure(databases: Sequence[str], options: Options) -> tuple[list[Pass], dict[str, dict[str, float]]]:
    passes: list[Pass] = []
    fills: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="sanctum_scale_") as tmp:
        for kind in databases:
            measured, fills[kind] = bench_database(kind, Path(tmp), options)
            passes += measured
    return passes, fills


def report(passes: list[Pass], fills: dict[str, dict[str, float]], options: Options) -> BenchReport:
    return BenchReport(
        table=table(passes, options),
        payload={"options": asdict(options), "fill_seconds": fills, "passes": [asdict(p) for p in passes]},
        footer=f"; fill seconds: {fills}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        args.duration,
        args.connections,
        args.warmup,
        args.passes,
        args.small,
        args.tokens,
        args.postgres_url,
        args.service_env,
        args.cache,
    )
    return run_bench(args, lambda: measure(args.databases, options), lambda result: report(*result, options))


if __name__ == "__main__":
    sys.exit(main())
