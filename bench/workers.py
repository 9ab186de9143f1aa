"""The token cache where users scale out: /api/me on PostgreSQL + Redis, at 1 and 2 workers, as ratios.

    .venv/bin/python bench/workers.py [--duration 10] [--connections 32] [--workers 1,2] [--json out.json]

For each worker count N: a fresh PostgreSQL database, `serve` with N workers and REDIS_URL (so the
token cache is on in every worker and revocations travel through Redis), and a bare aiohttp baseline
with N processes on one port (SO_REUSEPORT, as `serve --workers N`), answering /api/me's exact bytes.
wrk loads them in turn, baseline and service alternating. Then the same service with TOKEN_CACHE=off,
for the figure before the cache (every request reads PostgreSQL). Target: /api/me >= 0.55x its
baseline at every N. Every process and database this script makes is gone when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from common import (
    HOST,
    BenchReport,
    Server,
    WrkResult,
    add_common_options,
    finish_common_options,
    free_port,
    fresh_database,
    markdown,
    progress,
    register_user,
    request,
    run_bench,
    run_interleaved,
    run_wrk,
    running,
    start_server,
    start_service,
    stop_server,
    wait_ready,
    write_get_script,
)

BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"
MIN_RATIO = 0.55  # /api/me req/s with the cache, against the bare baseline with as many processes
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Deployment:
    workers: int
    bare: WrkResult
    cached: WrkResult
    uncached: WrkResult | None
    ratio: float  # the median of the interleaved rounds' cached/bare ratios (common.run_interleaved)


def start_bare(workdir: Path, body: bytes, workers: int) -> Server:
    body_file = workdir / "me.json"
    body_file.write_bytes(body)
    port = free_port()
    command = [sys.executable, str(BARE_SERVER), "--host", HOST, "--port", str(port), "--body-file", str(body_file)]
    command += ["--workers", str(workers)]
    server = start_server(f"bare aiohttp x{workers}", command, dict(os.environ), port, workdir / f"bare{workers}.log")
    wait_ready(server, "/")
    return server


def measure(label: str, server: Server, script: Path, connections: int, duration: int) -> WrkResult:
    result = run_wrk(server.url + "/api/me", script, connections, duration)
    report_pass(label, result)
    return result


def report_pass(label: str, result: WrkResult) -> None:
    errors = f", {result.errors} errors" if result.errors else ""
    progress(f"  {label:<34} {result.requests_per_second:>9.0f} req/s  p99 {result.p99_ms:7.2f} ms{errors}")


def bench_workers(workers: int, workdir: Path, args: argparse.Namespace) -> Deployment:
    progress(f"[{workers} worker(s)] PostgreSQL + Redis")
    env = {"WORKERS": str(workers), "REDIS_URL": args.redis_url, **args.service_env}
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_database("postgres", workdir, args.postgres_url))
        service = stack.enter_context(running(start_service(workdir, database_url, env, f"cached{workers}")))
        wait_ready(service, "/api/me")
        _login, token = register_user(service.port)
        status, me_body = request(service.port, "GET", "/api/me", token=token)
        if status != 200:
            raise RuntimeError(f"/api/me answered {status}")
        bare = stack.enter_context(running(start_bare(workdir, me_body, workers)))
        script = write_get_script(workdir / f"get{workers}.lua", token)
        run_wrk(bare.url + "/api/me", script, args.connections, 1)  # warm-up, untimed
        run_wrk(service.url + "/api/me", script, args.connections, 1)
        interleaved = run_interleaved(
            bare.url + "/api/me", service.url + "/api/me", script, args.connections, args.duration
        )
        report_pass(f"bare aiohttp x{workers}", interleaved.baseline)
        report_pass(f"/api/me cache on, {workers} worker(s)", interleaved.service)
        progress("  rounds' ratios: " + " ".join(f"{r:.2f}" for r in interleaved.round_ratios))
        uncached = None
        if not args.skip_off:
            # The same database and token, served with the cache off: the figure before it. The cached
            # service stops first, so the two never compete for the CPUs.
            stop_server(service)
            off = stack.enter_context(
                running(start_service(workdir, database_url, {**env, "TOKEN_CACHE": "off"}, f"uncached{workers}"))
            )
            wait_ready(off, "/api/me")
            uncached = measure(f"/api/me cache off, {workers} worker(s)", off, script, args.connections, args.duration)
    return Deployment(workers, interleaved.baseline, interleaved.service, uncached, interleaved.ratio)


def report(deployments: Sequence[Deployment]) -> BenchReport:
    rows = []
    for run in deployments:
        rows.append(
            [f"bare aiohttp, {run.workers} process(es)", f"{run.bare.requests_per_second:.0f}", "1.00", "—", "—"]
        )
        met = run.ratio >= MIN_RATIO and not run.cached.errors
        rows.append(
            [
                f"/api/me, REDIS_URL, cache on, {run.workers} worker(s)",
                f"{run.cached.requests_per_second:.0f}",
                f"{run.ratio:.2f}",
                f">= {MIN_RATIO:.2f}x",
                "yes" if met else "**NO**",
            ]
        )
        if run.uncached is not None:
            ratio = run.uncached.requests_per_second / run.bare.requests_per_second
            rows.append(
                [
                    f"/api/me, REDIS_URL, TOKEN_CACHE=off, {run.workers} worker(s)",
                    f"{run.uncached.requests_per_second:.0f}",
                    f"{ratio:.2f}",
                    "— (before)",
                    "—",
                ]
            )
    table = markdown(["scenario (PostgreSQL + Redis)", "req/s", "ratio vs bare", "target", "met?"], rows)
    return BenchReport(table=table, payload={"deployments": [asdict(run) for run in deployments]})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load pass (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"default {DEFAULT_REDIS_URL}")
    parser.add_argument("--skip-off", action="store_true", help="do not measure the TOKEN_CACHE=off reference")
    add_common_options(parser)
    args = parser.parse_args(argv)
    finish_common_options(parser, args)
    try:
        args.workers = [int(part) for part in args.workers.split(",") if part.strip()]
    except ValueError:
        parser.error("--workers takes comma-separated integers")
    if not args.workers or min(args.workers) < 1 or min(args.duration, args.connections) < 1:
        parser.error("--workers, --duration and --connections must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def run_all() -> list[Deployment]:
        with tempfile.TemporaryDirectory(prefix="sanctum_workers_") as workdir:
            return [bench_workers(n, Path(workdir), args) for n in args.workers]

    return run_bench(args, run_all, report)


if __name__ == "__main__":
    sys.exit(main())
