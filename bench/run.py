"""Benchmark sanctum_py against a bare aiohttp handler and raw bcrypt, in one run, as ratios.

    .venv/bin/python bench/run.py [--duration 10] [--connections 32] [--databases sqlite,postgres] [--json out.json]

Every figure that has a target is a ratio to a baseline measured in the same run, on the same
machine, right next to it: absolute req/s depend on the machine and on whatever else runs on it,
ratios much less. See bench/README.md for what each row means.

All load goes to 127.0.0.1, every load pass is bounded by wrk's -d, and every process this script
starts is stopped (and the PostgreSQL database it created dropped) on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
from common import (
    BCRYPT_ROUNDS,
    BCRYPT_THREADS,
    HOST,
    PASSWORD,
    BenchReport,
    Server,
    WrkResult,
    add_common_options,
    expect,
    finish_common_options,
    free_port,
    fresh_database,
    progress,
    register_user,
    request,
    rss_mb,
    run_bench,
    run_interleaved,
    run_wrk,
    running,
    start_server,
    wait_ready,
    write_get_script,
    write_login_script,
)
from common import start_service as start_sanctum

BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"

# Targets.
ME_MIN_RATIO = 0.60  # /api/me req/s >= 60% of the bare handler's
LOGIN_MIN_RATIO = 0.95  # login req/s >= 95% of raw bcrypt.checkpw on 2 threads
RSS_MAX_MB = 100.0  # server VmRSS, before and after load
P99_MAX_RATIO = 3.0  # /api/me p99 <= 3x the bare handler's p99, at P99_CONNECTIONS
P99_CONNECTIONS = 64


# --- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the Markdown table."""

    scenario: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    rss_mb: float | None = None
    ratio: float | None = None
    ratio_of: str = ""  # what the ratio compares: "req/s", "p99", ...
    target: str = "—"
    met: bool | None = None
    errors: int = 0


@dataclass
class DatabaseRun:
    database: str
    rows: list[Row] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)


# --- raw bcrypt ----------------------------------------------------------------------------------


def raw_bcrypt_rate(duration: float, threads: int = BCRYPT_THREADS, rounds: int = BCRYPT_ROUNDS) -> float:
    """checkpw per second on `threads` threads: the ceiling for a login endpoint doing the same."""
    password = PASSWORD.encode("ascii")
    hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds))
    deadline = time.perf_counter() + duration

    def worker() -> int:
        checks = 0
        while time.perf_counter() < deadline:
            bcrypt.checkpw(password, hashed)  # releases the GIL: threads really run in parallel
            checks += 1
        return checks

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        total = sum(future.result() for future in [pool.submit(worker) for _ in range(threads)])
    return total / (time.perf_counter() - start)


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Options:
    duration: int
    connections: int
    login_connections: int
    warmup: int
    postgres_url: str
    service_env: dict[str, str]


def measure(label: str, url: str, script: Path, connections: int, duration: int) -> WrkResult:
    result = run_wrk(url, script, connections, duration)
    report_pass(label, result)
    return result


def report_pass(label: str, result: WrkResult) -> None:
    errors = f", {result.errors} errors" if result.errors else ""
    progress(
        f"  {label:<28} {result.requests_per_second:>9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms{errors}"
    )


def start_service(workdir: Path, database_url: str, options: Options, kind: str) -> Server:
    # One process owning its database: on SQLite `auto` caches (serve holds the file's lock); on PostgreSQL
    # auto does not without Redis (other nodes may share it), so this single process says TOKEN_CACHE=on.
    # With Redis and several workers: bench/workers.py.
    env = {"TOKEN_CACHE": "on"} if kind == "postgres" else {}
    return start_sanctum(workdir, database_url, {**env, **options.service_env}, kind)


def start_bare(workdir: Path, body: bytes) -> Server:
    body_file = workdir / "me.json"
    body_file.write_bytes(body)
    port = free_port()
    command = [sys.executable, str(BARE_SERVER), "--host", HOST, "--port", str(port), "--body-file", str(body_file)]
    server = start_server("bare aiohttp", command, dict(os.environ), port, workdir / "bare.log")
    wait_ready(server, "/")
    return server


@dataclass(frozen=True)
class MePasses:
    """The four /api/me passes of one database, each next to its baseline."""

    connections: int
    bare: WrkResult
    me: WrkResult
    ratio: float  # the median of the interleaved rounds' ratios
    bare_p99: WrkResult  # at P99_CONNECTIONS
    me_p99: WrkResult


def me_rows(kind: str, passes: MePasses, bare_rss: float, service_rss: float) -> list[Row]:
    c = passes.connections
    rps_ratio = passes.ratio
    p99_ratio = passes.me_p99.p99_ms / passes.bare_p99.p99_ms
    return [
        _wrk_row(f"bare aiohttp c{c} (baseline, {kind})", passes.bare, bare_rss, 1.0, "req/s"),
        _wrk_row(
            f"/api/me {kind} c{c}",
            passes.me,
            service_rss,
            rps_ratio,
            "req/s",
            f">= {ME_MIN_RATIO:.2f}x bare req/s",
            rps_ratio >= ME_MIN_RATIO,
        ),
        _wrk_row(f"bare aiohttp c{P99_CONNECTIONS} (baseline, {kind})", passes.bare_p99, bare_rss, 1.0, "p99"),
        _wrk_row(
            f"/api/me {kind} c{P99_CONNECTIONS}",
            passes.me_p99,
            service_rss,
            p99_ratio,
            "p99",
            f"p99 <= {P99_MAX_RATIO:.0f}x bare p99",
            p99_ratio <= P99_MAX_RATIO,
        ),
    ]


def _wrk_row(
    scenario: str,
    result: WrkResult,
    rss: float,
    ratio: float,
    ratio_of: str,
    target: str = "—",
    met: bool | None = None,
) -> Row:
    # A pass with failed requests measured something else than the scenario: never a "met".
    if result.errors and met:
        met = False
    return Row(
        scenario,
        result.requests_per_second,
        result.p50_ms,
        result.p99_ms,
        rss,
        ratio,
        ratio_of,
        target,
        met,
        result.errors,
    )


def run_me_passes(bare: Server, service: Server, script: Path, options: Options) -> MePasses:
    # A short untimed pass first: connection set-up, the token cache and lazy imports out of the way.
    run_wrk(bare.url + "/api/me", script, options.connections, options.warmup)
    run_wrk(service.url + "/api/me", script, options.connections, options.warmup)
    # The throughput passes alternate in short rounds (common.run_interleaved): the machine's speed
    # drifts, and a round's ratio compares two passes seconds apart.
    c, c64, seconds = options.connections, P99_CONNECTIONS, options.duration
    interleaved = run_interleaved(bare.url + "/api/me", service.url + "/api/me", script, c, seconds)
    report_pass(f"bare c{c}", interleaved.baseline)
    report_pass(f"/api/me c{c}", interleaved.service)
    progress("  rounds' ratios: " + " ".join(f"{r:.2f}" for r in interleaved.round_ratios))
    bare_c64 = measure(f"bare c{c64}", bare.url + "/api/me", script, c64, seconds)
    me_c64 = measure(f"/api/me c{c64}", service.url + "/api/me", script, c64, seconds)
    return MePasses(c, interleaved.baseline, interleaved.service, interleaved.ratio, bare_c64, me_c64)


def run_login_passes(service: Server, script: Path, options: Options) -> tuple[float, WrkResult]:
    """Raw bcrypt first (the service idle), then the login endpoint, for the same duration."""
    raw = raw_bcrypt_rate(options.duration)
    progress(f"  {'raw bcrypt 2 threads':<28} {raw:>9.1f} checks/s")
    c = options.login_connections
    login = measure(f"/api/login c{c}", service.url + "/api/login", script, c, options.duration)
    return raw, login


def prepare_user(service: Server) -> tuple[str, str, bytes]:
    """Register a user, check /api/me and login answer; returns (login, token, /api/me body)."""
    login, token = register_user(service.port)
    status, me_body = request(service.port, "GET", "/api/me", token=token)
    expect(status, me_body, 200, "/api/me")
    status, body = request(service.port, "POST", "/api/login", {"login": login, "password": PASSWORD})
    expect(status, body, 200, "login")
    return login, token, me_body


def bench_database(
    kind: str, workdir: Path, options: Options, bare_holder: list[Server], stack: contextlib.ExitStack
) -> DatabaseRun:
    """Everything measured against one database, with that service the only one running."""
    progress(f"[{kind}] preparing a fresh database and starting the service")
    with contextlib.ExitStack() as local:  # this service stops (and its database goes) before the next
        database_url = local.enter_context(fresh_database(kind, workdir, options.postgres_url))
        service = local.enter_context(running(start_service(workdir, database_url, options, kind)))
        wait_ready(service, "/api/me")
        login, token, me_body = prepare_user(service)
        rss_before = rss_mb(service.process.pid)
        if not bare_holder:  # one baseline server for the whole run, answering /api/me's exact bytes
            bare_holder.append(stack.enter_context(running(start_bare(workdir, me_body))))
        bare = bare_holder[0]

        passes = run_me_passes(bare, service, write_get_script(workdir / f"get_{kind}.lua", token), options)
        service_rss = rss_mb(service.process.pid)
        raw, login_result = run_login_passes(service, write_login_script(workdir / f"login_{kind}.lua", login), options)
        rss_after = rss_mb(service.process.pid)
        rss_peak = rss_mb(service.process.pid, "VmHWM")

    run = DatabaseRun(kind)
    run.rows += me_rows(kind, passes, rss_mb(bare.process.pid), service_rss)
    run.rows += login_rows(kind, raw, login_result, options.login_connections, rss_after)
    run.rows.append(rss_row(kind, rss_before, rss_after, rss_peak))
    run.measurements = {
        **{name: asdict(value) for name, value in vars(passes).items() if isinstance(value, WrkResult)},
        "login": asdict(login_result),
        "raw_bcrypt_checks_per_second": raw,
        "rss_mb": {"before": rss_before, "after_me": service_rss, "after": rss_after, "peak": rss_peak},
    }
    return run


def login_rows(kind: str, raw: float, login: WrkResult, connections: int, rss: float) -> list[Row]:
    ratio = login.requests_per_second / raw
    return [
        Row(f"raw bcrypt.checkpw, 2 threads, cost {BCRYPT_ROUNDS} ({kind})", rps=raw, ratio=1.0, ratio_of="checks/s"),
        _wrk_row(
            f"/api/login {kind} c{connections}",
            login,
            rss,
            ratio,
            "req/s vs bcrypt",
            f">= {LOGIN_MIN_RATIO:.2f}x raw bcrypt",
            ratio >= LOGIN_MIN_RATIO,
        ),
    ]


def rss_row(kind: str, before: float, after: float, peak: float) -> Row:
    worst = max(before, after)
    return Row(
        f"server RSS {kind} (before {before:.1f} MB, after load; peak {peak:.1f} MB)",
        rss_mb=after,
        target=f"<= {RSS_MAX_MB:.0f} MB",
        met=worst <= RSS_MAX_MB,
    )


# --- output --------------------------------------------------------------------------------------


def _number(value: float | None, fmt: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{fmt}}{suffix}"


def markdown_table(rows: Sequence[Row]) -> str:
    lines = [
        "| scenario | req/s | p50 | p99 | RSS MB | ratio vs baseline | target | met? |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f} ({row.ratio_of})"
        met = "—" if row.met is None else ("yes" if row.met else "**NO**")
        scenario = row.scenario + (f" ⚠ {row.errors} failed requests" if row.errors else "")
        cells = [
            scenario,
            _number(row.rps, ".1f" if row.rps is not None and row.rps < 100 else ".0f"),
            _number(row.p50_ms, ".2f", " ms"),
            _number(row.p99_ms, ".2f", " ms"),
            _number(row.rss_mb, ".1f"),
            ratio,
            row.target,
            met,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- entry point ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load pass (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for /api/me (default 32)")
    parser.add_argument("--login-connections", type=int, default=4, help="wrk connections for login (default 4)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed seconds before the passes (default 1)")
    add_common_options(parser, service_env_help="extra service setting, e.g. TOKEN_CACHE=off (repeatable)")
    args = parser.parse_args(argv)
    finish_common_options(parser, args)
    if min(args.duration, args.connections, args.login_connections, args.warmup) < 1:
        parser.error("--duration, --connections, --login-connections and --warmup must be >= 1")
    return args


def run_all(databases: Sequence[str], options: Options) -> list[DatabaseRun]:
    runs: list[DatabaseRun] = []
    with contextlib.ExitStack() as stack:  # unwinds on any exit: servers stopped, temp dir removed
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sanctum_bench_")))
        bare_holder: list[Server] = []
        for kind in databases:
            runs.append(bench_database(kind, workdir, options, bare_holder, stack))
    return runs


def report(runs: Sequence[DatabaseRun], options: Options) -> BenchReport:
    rows = [row for run in runs for row in run.rows]
    return BenchReport(
        table=markdown_table(rows),
        payload={
            "options": asdict(options),
            "rows": [asdict(row) for row in rows],
            "measurements": {run.database: run.measurements for run in runs},
        },
        footer="; ratios are measured in the same run.",
        missed=any(row.met is False for row in rows),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        duration=args.duration,
        connections=args.connections,
        login_connections=args.login_connections,
        warmup=args.warmup,
        postgres_url=args.postgres_url,
        service_env=args.service_env,
    )
    return run_bench(args, lambda: run_all(args.databases, options), lambda runs: report(runs, options))


if __name__ == "__main__":
    sys.exit(main())
