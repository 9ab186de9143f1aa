"""Does `prune-expired` on a million expired tokens stall the API? /api/me and login p99, before and during.

    .venv/bin/python bench/prune_load.py [--expired 1000000] [--duration 10] [--databases sqlite,postgres]

For each database: a fresh database filled with 1,000,000 tokens that expired two days ago, then the
service, a user registered through the API (its live token is the one wrk presents) and two wrk
loads at once: GET /api/me (c32) and POST /api/login (c2, a write per request: a token insert and
last_login_at). A baseline pass of both runs for --duration; then both run again while
`python -m sanctum_py prune-expired --hours 24` deletes the expired rows, and are stopped the moment
it exits. Reported: how long the prune took and what it deleted, and each load's req/s, p99, max
and errors in both windows. Target: p99 during the prune <= 3x the baseline's, and 0 errors.

The token cache is off by default (every /api/me then reads the token and its user from the database,
the case a prune could stall), and bcrypt runs at cost 4 so logins are a steady stream of writes
rather than two CPUs of hashing that would crowd out everything else.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from common import (
    PASSWORD,
    RATE_LIMIT_OFF,
    REPO,
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
    service_env,
    start_service,
    wait_ready,
    write_get_script,
    write_login_script,
)
from fill import Fill, count_expired, fill_database

P99_MAX_RATIO = 3.0  # p99 during the prune <= 3x the baseline's
PRUNE_HOURS = 24  # fill.py's expired rows expired two days ago: all of them are past this
WARMUP_SECONDS = 5


@dataclass(frozen=True)
class Options:
    expired: int
    users: int
    duration: int
    connections: int
    login_connections: int
    max_prune_seconds: int
    token_cache: str
    bcrypt_rounds: int
    postgres_url: str
    service_env: dict[str, str]


@dataclass
class Window:
    me: WrkResult
    login: WrkResult
    seconds: float


@dataclass
class PruneRun:
    database: str
    baseline: Window
    during: Window
    prune_seconds: float
    deleted: int
    rss_mb: dict[str, float]


def load_window(
    service: Server,
    scripts: tuple[Path, Path],
    options: Options,
    during: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Window, float, str]:
    """Both loads for --duration (during=None), or for as long as the command `during` runs.

    Returns the window, the command's own duration and its output."""
    me_script, login_script = scripts
    limit = options.duration if during is None else options.max_prune_seconds
    started = time.perf_counter()
    with (
        background_wrk(service.url + "/api/me", me_script, options.connections, limit) as me,
        background_wrk(service.url + "/api/login", login_script, options.login_connections, limit) as login,
    ):
        command_seconds, output = 0.0, ""
        if during is not None:
            time.sleep(0.5)  # both loads connected and running before the prune starts
            command_started = time.perf_counter()
            done = subprocess.run(during, cwd=REPO, env=env, capture_output=True, text=True, timeout=limit, check=False)
            command_seconds = time.perf_counter() - command_started
            output = done.stdout + done.stderr
            if done.returncode != 0:
                raise RuntimeError(f"prune-expired failed ({done.returncode}):\n{output}")
        me_result = me.stop(early=during is not None)
        login_result = login.stop(early=during is not None)
    return Window(me_result, login_result, time.perf_counter() - started), command_seconds, output


def bench_database(kind: str, workdir: Path, options: Options) -> PruneRun:
    extra = {
        **options.service_env,
        "TOKEN_CACHE": options.token_cache,
        "BCRYPT_ROUNDS": str(options.bcrypt_rounds),
        "LOGIN_MAX_ATTEMPTS": RATE_LIMIT_OFF,  # only failed logins count, and there are none; out of reach anyway
    }
    with fresh_database(kind, workdir, options.postgres_url) as url:
        with running(start_service(workdir, url, extra, f"{kind}_setup")) as setup:  # migrates
            wait_ready(setup, "/api/me")
        progress(f"[{kind}] filling {options.expired:,} expired tokens for {options.users:,} users")
        report = fill_database(url, Fill(options.users, options.expired, expired=True), PASSWORD)
        progress(f"  filled in {report.seconds:.1f} s")
        with running(start_service(workdir, url, extra, kind)) as service:
            wait_ready(service, "/api/me")
            login, token = register_user(service.port)  # a live token, created after the expired ones
            status, body = request(service.port, "POST", "/api/login", {"login": login, "password": PASSWORD})
            expect(status, body, 200, "login")
            scripts = (
                write_get_script(workdir / f"me_{kind}.lua", token),
                write_login_script(workdir / f"login_{kind}.lua", login),
            )
            # Untimed warm-up with both loads: the first seconds on a big, cold table (pages not yet
            # cached, pools opening, the first last_used_at writes) are slower than either window.
            load_window(service, scripts, replace(options, duration=WARMUP_SECONDS))
            rss_before = rss_mb(service.process.pid)
            baseline, _, _ = load_window(service, scripts, options)
            _report(kind, "baseline", baseline)
            # The prune runs as an operator would run it: the CLI, against the same database and settings.
            command = [sys.executable, "-m", "sanctum_py", "--env-file", str(workdir / f"{kind}.env")]
            command += ["prune-expired", "--hours", str(PRUNE_HOURS)]
            prune_env = service_env(url, 0, extra)
            during, prune_seconds, output = load_window(service, scripts, options, command, prune_env)
            _report(kind, "during prune", during)
            rss_after = rss_mb(service.process.pid)
            status, body = request(service.port, "GET", "/api/me", token=token)
            expect(status, body, 200, "/api/me after the prune")  # the live token survived
        remaining = count_expired(url, PRUNE_HOURS)
        match = re.search(r"\((\d+) deleted\)", output)
        deleted = int(match.group(1)) if match else -1
        progress(f"  prune-expired: {deleted:,} rows deleted in {prune_seconds:.1f} s")
    if remaining:
        raise RuntimeError(f"{remaining} expired tokens left after prune-expired")
    return PruneRun(kind, baseline, during, prune_seconds, deleted, {"before": rss_before, "after": rss_after})


def _report(kind: str, label: str, window: Window) -> None:
    for name, result in (("/api/me", window.me), ("login", window.login)):
        errors = f", {result.errors} errors" if result.errors else ""
        progress(
            f"  {kind} {label:<13} {name:<8} {result.requests_per_second:>8.0f} req/s  p99 {result.p99_ms:8.2f} ms  "
            f"max {result.max_ms:8.2f} ms{errors}"
        )


def table(runs: Sequence[PruneRun]) -> str:
    rows = []
    for run in runs:
        for name, base, during in (
            ("/api/me", run.baseline.me, run.during.me),
            ("/api/login", run.baseline.login, run.during.login),
        ):
            ratio = during.p99_ms / base.p99_ms
            errors = base.errors + during.errors
            met = ratio <= P99_MAX_RATIO and not errors
            rows.append(
                [
                    f"{name} {run.database}" + (f" ⚠ {errors} failed requests" if errors else ""),
                    f"{base.requests_per_second:.0f}",
                    f"{base.p99_ms:.2f} ms",
                    f"{during.requests_per_second:.0f}",
                    f"{during.p99_ms:.2f} ms",
                    f"{during.max_ms:.0f} ms",
                    f"{ratio:.2f}",
                    f"<= {P99_MAX_RATIO:.0f}x, 0 errors",
                    "yes" if met else "**NO**",
                ]
            )
    headers = [
        "load",
        "req/s before",
        "p99 before",
        "req/s during prune",
        "p99 during",
        "max during",
        "p99 ratio",
        "target",
        "met?",
    ]
    prunes = [
        [
            f"prune-expired {run.database}",
            f"{run.deleted:,} rows",
            f"{run.prune_seconds:.1f} s",
            f"{run.deleted / run.prune_seconds:,.0f} rows/s" if run.prune_seconds else "—",
        ]
        for run in runs
    ]
    return markdown(headers, rows) + "\n\n" + markdown(["command", "deleted", "took", "rate"], prunes)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--expired", type=int, default=1_000_000, help="expired tokens to prune (default 1000000)")
    parser.add_argument("--users", type=int, default=100_000, help="users owning them (default 100000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of the baseline pass (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections on /api/me (default 32)")
    parser.add_argument("--login-connections", type=int, default=2, help="wrk connections on login (default 2)")
    parser.add_argument("--max-prune-seconds", type=int, default=900, help="give up after this (default 900)")
    parser.add_argument("--token-cache", choices=("auto", "on", "off"), default="off", help="TOKEN_CACHE (off)")
    parser.add_argument("--bcrypt-rounds", type=int, default=4, help="BCRYPT_ROUNDS for the login load (4)")
    add_common_options(parser)
    args = parser.parse_args(argv)
    finish_common_options(parser, args)
    if min(args.expired, args.users, args.duration, args.connections, args.login_connections) < 1:
        parser.error("--expired, --users, --duration and the connection counts must be >= 1")
    return args


def measure(databases: Sequence[str], options: Options) -> list[PruneRun]:
    with tempfile.TemporaryDirectory(prefix="sanctum_prune_") as tmp:
        return [bench_database(kind, Path(tmp), options) for kind in databases]


def report(runs: list[PruneRun], options: Options) -> BenchReport:
    return BenchReport(table(runs), {"options": asdict(options), "runs": [asdict(run) for run in runs]})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        args.expired,
        args.users,
        args.duration,
        args.connections,
        args.login_connections,
        args.max_prune_seconds,
        args.token_cache,
        args.bcrypt_rounds,
        args.postgres_url,
        args.service_env,
    )
    return run_bench(args, lambda: measure(args.databases, options), lambda runs: report(runs, options))


if __name__ == "__main__":
    sys.exit(main())
