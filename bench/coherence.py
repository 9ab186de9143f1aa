"""Revoke on one process, use at once on another, by the thousand: issue 14's stale-accept count.

    .venv/bin/python bench/coherence.py [--trials 10000] [--topologies two-nodes,workers-2] [--databases postgres]
                                        [--service-env KEY=VALUE ...] [--json out.json]

The trials of tests/test_cache_coherence.py (tests/support/coherence.py: a fresh token warmed on B, revoked
through one path on A, used on B with no pause; 200 is a stale accept), spread evenly over every path ×
topology × database: each round runs every path once, in turn, and each topology's `prune-expired` batch
(two variants) is sized like the other paths' counts and finished as soon as its tokens are a minute old.

Prints a Markdown table (path, topology, trials, stale accepts, median revoke→use latency) and exits 1 on
any stale accept, or on any answer a trial does not expect (a 5xx, a refused login: the message says which).
Progress goes to stderr. Every server, database and Redis key this script makes is removed on the way out,
whatever happens (errors, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the harness lives with the tests: one implementation of a trial

from tests.support.coherence import (  # noqa: E402
    PATHS,
    PRUNE_PATHS,
    SETTINGS_OVERRIDE,
    TOPOLOGIES,
    TRIAL_NAMES,
    HarnessError,
    PruneBatch,
    Runner,
    forget_redis_prefix,
    new_redis_prefix,
    running_cluster,
    scratch_database,
)

DEFAULT_URLS = {
    "postgres": "postgres://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql://root:@127.0.0.1:3306/mysql",
}
ROWS_PER_ROUND = len(PATHS) + 1  # the refresh path gives two trials (rotation, reuse)
PROGRESS_SECONDS = 15.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers stopped, databases dropped


def plan(total: int, cells: int) -> tuple[int, int]:
    """(rounds, prune batch size) for one topology × database cell: each row gets about the same count, and
    the cells together make at least `total` trials."""
    rows = ROWS_PER_ROUND + len(PRUNE_PATHS)
    budget = -(-total // cells)  # ceilings throughout: never fewer trials than asked for
    batch = -(-budget // rows)
    rounds = max(-(-(budget - len(PRUNE_PATHS) * batch) // ROWS_PER_ROUND), 1)
    return rounds, batch


def run_cell(runner: Runner, rounds: int, label: str) -> None:
    started = last = time.monotonic()
    for done in range(rounds):
        for path in PATHS:
            runner.run(path)
        if time.monotonic() - last > PROGRESS_SECONDS:
            last = time.monotonic()
            stale = sum(tally.stale for tally in runner.tallies.values())
            progress(f"  {label}: round {done + 1}/{rounds}, {stale} stale so far, {last - started:.0f} s")
    if runner.prune is not None and not runner.prune.finished:
        progress(f"  {label}: waiting for the prune batch to be a minute old")
        runner.record(runner.prune.finish())


def table(results: dict[str, Runner]) -> str:
    lines = [
        "| path | topology | trials | stale accepts | median revoke→use |",
        "|---|---|---:|---:|---:|",
    ]
    for label, runner in results.items():
        for name, tally in sorted(runner.tallies.items(), key=lambda item: TRIAL_NAMES.index(item[0])):
            lines.append(f"| {name} | {label} | {tally.trials:,} | {tally.stale} | {tally.median_ms:.1f} ms |")
    total = sum(tally.trials for runner in results.values() for tally in runner.tallies.values())
    stale = sum(tally.stale for runner in results.values() for tally in runner.tallies.values())
    lines.append(f"| **all** | | **{total:,}** | **{stale}** | |")
    return "\n".join(lines)


def measure(args: argparse.Namespace, workdir: Path, results: dict[str, Runner]) -> None:
    """Fill `results` cell by cell (so a failure still leaves the counts made before it)."""
    cells = [(database, topology) for database in args.databases for topology in args.topologies]
    rounds, batch = plan(args.trials, len(cells))
    progress(f"{len(cells)} topology × database cells, {rounds} rounds of {len(PATHS)} paths + 2 × {batch} prunes each")
    app_key = "base64:" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    for index, (database, topology_name) in enumerate(cells):
        topology = TOPOLOGIES[topology_name]
        label = f"{topology.name}, {database}"
        progress(f"{label}: starting")
        with contextlib.ExitStack() as stack:
            name = f"coherence_{os.getpid()}_{index}_{secrets.token_hex(3)}"
            url = stack.enter_context(scratch_database(database, args.database_urls[database], name))
            prefix = new_redis_prefix(f"bench{index}")
            stack.callback(forget_redis_prefix, args.redis_url, prefix)
            cluster = stack.enter_context(
                running_cluster(
                    topology,
                    workdir / f"cell{index}",
                    database_url=url,
                    app_key=app_key,
                    redis_url=args.redis_url,
                    redis_prefix=prefix,
                )
            )
            runner = Runner(cluster)
            stack.callback(runner.close)
            results[label] = runner
            runner.start_admin()
            runner.prune = PruneBatch(runner, batch)
            run_cell(runner, rounds, label)
            progress(f"{label}: done")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000, help="total revoke-then-use trials (default 10000)")
    parser.add_argument("--topologies", default="two-nodes,workers-2", help=f"of {', '.join(TOPOLOGIES)}")
    parser.add_argument("--databases", default="postgres", help="of postgres, mariadb")
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgres"], help="a server (any database on it)")
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mariadb"], help="a MariaDB/MySQL server")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--service-env", action="append", default=[], metavar="KEY=VALUE", help="a server setting, repeatable"
    )
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args(argv)
    args.topologies = [name.strip() for name in args.topologies.split(",") if name.strip()]
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not args.topologies or set(args.topologies) - set(TOPOLOGIES):
        parser.error(f"--topologies takes {', '.join(TOPOLOGIES)}")
    if not args.databases or set(args.databases) - set(DEFAULT_URLS):
        parser.error("--databases takes postgres, mariadb")
    if args.trials < 1:
        parser.error("--trials must be positive")
    if any("=" not in item for item in args.service_env):
        parser.error("--service-env takes KEY=VALUE")
    if args.service_env:  # the harness reads its overrides from the environment
        os.environ[SETTINGS_OVERRIDE] = ",".join(args.service_env)
    args.database_urls = {"postgres": args.postgres_url, "mariadb": args.mysql_url}

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    progress(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    started = time.monotonic()
    results: dict[str, Runner] = {}
    failure = None
    with tempfile.TemporaryDirectory(prefix="coherence-") as workdir:
        try:
            measure(args, Path(workdir), results)
        except HarnessError as error:
            failure = str(error)
    report = table(results) if results else "(no trials)"
    print(report)
    stale = sum(tally.stale for runner in results.values() for tally in runner.tallies.values())
    progress(f"{time.monotonic() - started:.0f} s")
    if args.json:
        payload: dict[str, Any] = {
            label: {
                name: {"trials": t.trials, "stale": t.stale, "median_ms": t.median_ms, "details": t.details[:20]}
                for name, t in runner.tallies.items()
            }
            for label, runner in results.items()
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if failure is not None:
        progress(f"FAILED: {failure}")
        return 1
    if stale:
        for runner in results.values():
            for tally in runner.tallies.values():
                for detail in tally.details[:3]:
                    progress(f"STALE: {detail}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
