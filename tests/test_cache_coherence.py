"""Issue 14: a revocation on one process reaches every other process's token cache (black-box).

Real `serve` processes on real PostgreSQL (and MariaDB) + Redis, driven over HTTP by the harness in
tests/support/coherence.py: a token is warmed on B, revoked through one path on A, and used on B at once.
Every path × topology must give 0 stale accepts (and nothing but the documented answers: the harness fails
on any other status, a 5xx included). Then the specified edges: two nodes without REDIS_URL, SQLite (one
caching process owns the file), a row deleted behind the service's back (bounded by TOKEN_CACHE_SECONDS),
and Redis cut through a TCP proxy under load (fail closed, recover without restart).

`SANCTUM_COHERENCE_TRIALS` (default 5) sets the trials per path and topology; `SANCTUM_COHERENCE_SETTINGS`
(`KEY=VALUE,...`) overrides the servers' settings, e.g. `TOKEN_CACHE=on` to watch the trials catch a cache
that nobody invalidates. `bench/coherence.py` runs the same trials by the thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import (
    BACKENDS,
    MYSQL_ADMIN_URL,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    RUN_ID,
    TEST_APP_KEY,
)
from tests.support.coherence import (
    PATHS,
    PRUNE_PATHS,
    TWO_NODES,
    TWO_WORKERS,
    Cluster,
    HarnessError,
    PruneBatch,
    Runner,
    Topology,
    Trial,
    forget_redis_prefix,
    new_redis_prefix,
    running_cluster,
    scratch_database,
)
from tests.support.secret_scan import record_output, remember
from tests.support.servers import ServerProcess, call, run_cli, server_environment
from tests.support.tcp_proxy import Mode, TcpProxy, proxy_for, through

pytestmark = pytest.mark.skipif(
    "postgres" not in BACKENDS, reason="cross-process coherence needs PostgreSQL, left out by SANCTUM_TEST_BACKENDS"
)

TRIALS = int(os.environ.get("SANCTUM_COHERENCE_TRIALS", "5"))
# The servers log at DEBUG here, so the suite's secret scan reads everything they could say about a token.
DEBUG_LOGS = {"LOG_LEVEL": "DEBUG"}
NODES = replace(TWO_NODES, settings={**TWO_NODES.settings, **DEBUG_LOGS})
WORKERS = replace(TWO_WORKERS, settings={**TWO_WORKERS.settings, **DEBUG_LOGS})
PRUNE_BATCH = 3  # tokens of each prune variant per topology
# (database, topology): both topologies on PostgreSQL, two nodes on MariaDB too.
CLUSTERS = {
    "postgres, two nodes": ("postgres", NODES),
    "postgres, serve --workers 2": ("postgres", WORKERS),
    "mariadb, two nodes": ("mariadb", NODES),
}
if "mariadb" not in BACKENDS:  # narrowed on purpose (SANCTUM_TEST_BACKENDS), never silently
    del CLUSTERS["mariadb, two nodes"]


@contextlib.contextmanager
def scanned(runner: Runner) -> Iterator[Runner]:
    """Hand the runner's secrets and what its servers printed so far to the suite's secret scan (no secret in
    any log) when the block ends."""
    try:
        yield runner
    finally:
        for secret in runner.secrets:
            remember(secret, f"a coherence trial on {runner.cluster.topology.name}")
        record_output(f"serve ({runner.cluster.topology.name})", runner.cluster.output(tail=None))


@pytest.fixture
def runner_for() -> Iterator[Callable[[Cluster], Runner]]:
    """Runners for a test's own clusters; their secrets and their servers' whole output (the clusters have
    stopped by then) go to the secret scan after the test."""
    made: list[Runner] = []

    def make(cluster: Cluster) -> Runner:
        made.append(Runner(cluster))
        return made[-1]

    yield make
    for runner in made:
        with scanned(runner):
            runner.close()


def stale(trials: list[Trial]) -> list[str]:
    return [trial.detail for trial in trials if trial.stale]


def database(kind: str, label: str) -> contextlib.AbstractContextManager[str]:
    """A new database on the test server of `kind`, dropped afterwards."""
    admin_url = POSTGRES_ADMIN_URL if kind == "postgres" else MYSQL_ADMIN_URL
    return scratch_database(kind, admin_url, f"sanctum_test_{RUN_ID}_coh_{label}")


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Runner]]:
    """Every cluster of CLUSTERS, started once for the module, each with its prune batch made at once: the
    batch needs its tokens a minute old, and the other tests of the module run meanwhile."""
    with contextlib.ExitStack() as stack:
        started: dict[str, Runner] = {}
        for index, (label, (kind, topology)) in enumerate(CLUSTERS.items()):
            url = stack.enter_context(database(kind, str(index)))
            prefix = new_redis_prefix(f"{RUN_ID}_{index}")
            stack.callback(forget_redis_prefix, REDIS_URL, prefix)
            cluster = stack.enter_context(
                running_cluster(
                    topology,
                    tmp_path_factory.mktemp(f"coherence{index}"),
                    database_url=url,
                    app_key=TEST_APP_KEY,
                    redis_url=REDIS_URL,
                    redis_prefix=prefix,
                )
            )
            runner = stack.enter_context(scanned(Runner(cluster)))
            stack.callback(runner.close)
            runner.start_admin()
            started[label] = runner
        for runner in started.values():
            runner.prune = PruneBatch(runner, PRUNE_BATCH)
        yield started


@pytest.mark.parametrize("label", list(CLUSTERS))
@pytest.mark.parametrize("path", list(PATHS))
def test_a_revocation_on_one_process_is_final_on_the_other_at_once(
    runners: dict[str, Runner], label: str, path: str
) -> None:
    runner = runners[label]
    trials = [trial for _ in range(TRIALS) for trial in runner.run(path)]
    assert len(trials) >= TRIALS
    assert stale(trials) == [], f"{len(stale(trials))} stale accepts of {len(trials)} on {label}"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis prefix of this test's own, its keys deleted afterwards."""
    prefix = new_redis_prefix(RUN_ID)
    yield prefix
    forget_redis_prefix(REDIS_URL, prefix)


# --- two nodes on PostgreSQL without REDIS_URL ------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One PostgreSQL database for the tests below, each with servers (and accounts) of its own."""
    with database("postgres", "scratch") as url:
        env = server_environment(database_url=url, app_key=TEST_APP_KEY)
        migrated = run_cli(tmp_path_factory.mktemp("scratch"), env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        yield url


def test_without_redis_two_nodes_never_accept_a_logged_out_token(
    shared_database: str, tmp_path: Path, redis_prefix: str, runner_for: Callable[[Cluster], Runner]
) -> None:
    """TOKEN_CACHE=auto without REDIS_URL: nothing can tell B about A's logout, so B must not cache."""
    with running_cluster(
        NODES,
        tmp_path,
        database_url=shared_database,
        app_key=TEST_APP_KEY,
        redis_url=None,
        redis_prefix=redis_prefix,
        migrate=False,
    ) as cluster:
        assert "REDIS_URL" not in cluster.env
        runner = runner_for(cluster)
        trials = [
            trial for path in ("laravel-logout", "token-delete") for _ in range(TRIALS) for trial in runner.run(path)
        ]
        assert stale(trials) == [], f"{len(stale(trials))} stale accepts of {len(trials)}"


# --- SQLite without Redis: one caching process owns the file ----------------------------------------------------

SQLITE_SETTINGS = {"TOKEN_CACHE": "auto"}  # what the specification is about, whatever SANCTUM_COHERENCE_SETTINGS says


def sqlite_environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = server_environment(
        **{
            **TWO_NODES.environment(),
            "DATABASE_URL": f"sqlite://{tmp_path / 'shared.sqlite'}",
            "APP_KEY": TEST_APP_KEY,
            "MAIL_FILE_PATH": str(tmp_path / "mail"),
            **settings,
        }
    )
    env.pop("REDIS_URL", None)
    migrated = run_cli(tmp_path, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return env


def test_a_second_serve_on_a_caching_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    env = sqlite_environment(tmp_path, **SQLITE_SETTINGS)
    first = ServerProcess(tmp_path, env)
    second: ServerProcess | None = None
    try:
        first.wait_up()
        second = ServerProcess(tmp_path, env)
        deadline = time.monotonic() + 20
        while second.process.poll() is None:
            connection = second.connect()
            try:
                serving = call(connection, "GET", "/up").status
            except OSError:  # not listening (yet, or ever)
                serving = None
            finally:
                connection.close()
            if serving is not None:
                pytest.fail(f"a second serve on the file the first caches for answers /up with {serving}")
            assert time.monotonic() < deadline, "the second serve neither served nor exited in 20 s"
            time.sleep(0.1)
        output = second.output()
        assert second.process.returncode != 0, output
        assert "TOKEN_CACHE" in output or "REDIS_URL" in output, output
        assert "Traceback" not in output, output
        probe = first.connect()
        assert call(probe, "GET", "/up").status == 200  # the first one serves on
        probe.close()
    finally:
        if second is not None:
            second.stop()
        first.stop()


def sqlite_cluster(tmp_path: Path, topology: Topology, **settings: str) -> contextlib.AbstractContextManager[Cluster]:
    env = sqlite_environment(tmp_path, **settings)
    return running_cluster(
        replace(topology, pinned=settings),
        tmp_path,
        database_url=env["DATABASE_URL"],
        app_key=TEST_APP_KEY,
        redis_url=None,
        redis_prefix=new_redis_prefix("sqlite"),
        migrate=False,
    )


def test_two_serve_on_one_sqlite_file_without_a_cache_see_each_others_logouts(
    tmp_path: Path, runner_for: Callable[[Cluster], Runner]
) -> None:
    with sqlite_cluster(tmp_path, NODES, TOKEN_CACHE="off") as cluster:
        runner = runner_for(cluster)
        trials = [trial for _ in range(TRIALS) for trial in runner.run("laravel-logout")]
        assert stale(trials) == []


def test_serve_with_two_workers_on_sqlite_caches_nothing(
    tmp_path: Path, runner_for: Callable[[Cluster], Runner]
) -> None:
    with sqlite_cluster(tmp_path, WORKERS, **SQLITE_SETTINGS) as cluster:
        runner = runner_for(cluster)
        trials = [
            trial for path in ("laravel-logout", "role-change") for _ in range(TRIALS) for trial in runner.run(path)
        ]
        assert stale(trials) == []


# --- behind the service's back ------------------------------------------------------------------------------

BEHIND_SLACK = 0.5  # seconds past TOKEN_CACHE_SECONDS allowed for scheduling on a busy 2-core machine


def test_a_row_deleted_behind_the_services_back_is_refused_within_the_cache_lifetime(
    shared_database: str, tmp_path: Path, redis_prefix: str, runner_for: Callable[[Cluster], Runner]
) -> None:
    """A Laravel app deleting a token row in the same database: nothing is published, so a node that cached
    the token may accept it until TOKEN_CACHE_SECONDS (2 here) have passed since it cached it, never longer."""
    one_node = Topology("one node", servers=1, workers=1, settings={"TOKEN_CACHE_SECONDS": "2", **DEBUG_LOGS})
    with running_cluster(
        one_node,
        tmp_path,
        database_url=shared_database,
        app_key=TEST_APP_KEY,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        migrate=False,
    ) as cluster:
        runner = runner_for(cluster)
        token = runner.login(runner.register())
        warmed = runner.warm(token)  # cached here, if the node caches, no later than this answer
        bound = cluster.cache_seconds + BEHIND_SLACK
        asyncio.run(delete_token_row(shared_database, int(token.split("|")[0])))
        deleted_at = time.perf_counter()
        accepted_until, refused = None, 0
        while refused < 5:
            reply = runner.b.call("GET", "/api/me", token=token)
            assert reply.status in (200, 401), reply.body
            if reply.status == 200:
                assert refused == 0, "accepted again after a refusal"
                accepted_until = reply.done_at
            else:
                refused += 1
            assert reply.done_at - warmed.done_at < bound + 2, "still accepted long past TOKEN_CACHE_SECONDS"
            time.sleep(0.02)
        if accepted_until is not None:
            assert accepted_until - warmed.done_at <= bound, (
                f"accepted {accepted_until - deleted_at:.2f} s after the deletion, "
                f"{accepted_until - warmed.done_at:.2f} s after it was cached "
                f"(TOKEN_CACHE_SECONDS={cluster.cache_seconds})"
            )


async def delete_token_row(url: str, token_id: int) -> None:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        deleted = await connection.execute("DELETE FROM personal_access_tokens WHERE id = $1", token_id)
        assert deleted == "DELETE 1"
    finally:
        await connection.close()


# --- fail closed: Redis cut under load --------------------------------------------------------------------------


class ProxyThread:
    """tests/support/tcp_proxy.py's asyncio proxy, on an event loop of its own thread (the trials are blocking)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.proxy: TcpProxy = proxy_for(url)

    def __enter__(self) -> ProxyThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)
        return self

    def cut(self, mode: Mode) -> None:
        self.loop.call_soon_threadsafe(self.proxy.cut, mode)

    def restore(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.restore(), self.loop).result(10)

    def __exit__(self, *exc_info: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@dataclass
class Load:
    """GET /api/me with a live token on one port, as fast as one connection goes, until stopped."""

    port: int
    token: str
    statuses: list[tuple[float, int]] = field(default_factory=list)  # (time.monotonic(), status)
    errors: list[str] = field(default_factory=list)
    slowest: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    status = call(connection, "GET", "/api/me", token=self.token).status
                except (OSError, http.client.HTTPException) as failed:
                    self.errors.append(repr(failed))
                    connection.close()
                    continue
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.statuses.append((time.monotonic(), status))
        finally:
            connection.close()

    def between(self, start: float, end: float) -> list[int]:
        return [status for moment, status in self.statuses if start <= moment <= end]


FAIL_CLOSED_PATHS = ("laravel-logout", "token-delete", "deactivation", "role-change")
RECOVERY_SECONDS = 20.0


def test_while_redis_is_cut_no_process_trusts_its_cache(
    shared_database: str, tmp_path: Path, redis_prefix: str, runner_for: Callable[[Cluster], Runner]
) -> None:
    """Both nodes reach Redis through a proxy. Under a steady /api/me load on B, Redis is cut (refused, then
    a black hole): revoke-then-use trials during the cut give 0 stale accepts and only documented answers;
    tokens B cached before or during the cut and revoked during it are refused once Redis is back (B dropped
    what it cached while it could miss messages); trials after the restore give 0 stale; nothing restarted."""
    with (
        ProxyThread(REDIS_URL) as proxy,
        running_cluster(
            NODES,
            tmp_path,
            database_url=shared_database,
            app_key=TEST_APP_KEY,
            redis_url=through(REDIS_URL, proxy.proxy),
            redis_prefix=redis_prefix,
            migrate=False,
        ) as cluster,
    ):
        runner = runner_for(cluster)
        runner.admin_token()
        pids = [server.pid for server in cluster.servers]
        load = Load(cluster.servers[1].port, runner.login(runner.register()))
        loader = threading.Thread(target=load.run, daemon=True)
        loader.start()
        try:
            for mode in ("reset", "blackhole"):
                cached_before = [runner.login(runner.account("cached_before", n)) for n in range(3)]
                for token in cached_before:
                    runner.warm(token)
                cut_at = time.monotonic()
                proxy.cut(mode)
                during = [trial for path in FAIL_CLOSED_PATHS for trial in runner.run(path)]
                # Read from the database during the cut, and maybe kept: revoked before B can hear of it again.
                cached_during = [runner.login(runner.account("cached_during", n)) for n in range(3)]
                for token in cached_during:
                    runner.warm(token)
                unheard = cached_before + cached_during
                revocations = [runner.a.expect(200, "POST", "/api/logout", token=token) for token in unheard]
                restored_at = time.monotonic()
                proxy.restore()
                wait_until_up(cluster)
                after = [
                    runner.refused(f"cached before or during the {mode} cut, revoked during it", token, revoked)
                    for token, revoked in zip(unheard, revocations, strict=True)
                ]
                after += [trial for path in FAIL_CLOSED_PATHS for trial in runner.run(path)]
                counts = f"{len(stale(during))} of {len(during)} while cut, {len(stale(after))} of {len(after)} after"
                assert stale(during) + stale(after) == [], f"{mode}: stale accepts {counts}"
                served = load.between(cut_at, restored_at)
                assert served, f"{mode}: the load made no request during the cut"
                assert set(served) == {200}, f"{mode}: /api/me with a live token answered {sorted(set(served))}"
        finally:
            load.stop.set()
            loader.join(30)
        assert load.errors == [], load.errors[:5]
        assert {status for _, status in load.statuses} == {200}
        assert [server.process.poll() for server in cluster.servers] == [None, None], cluster.output()
        assert [server.pid for server in cluster.servers] == pids


def wait_until_up(cluster: Cluster) -> None:
    """Every node's /up answers 200 again (it checks Redis too), on a connection of its own."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    for server in cluster.servers:
        while True:
            probe = server.connect()
            try:
                if call(probe, "GET", "/up").status == 200:
                    break
            except OSError:
                pass
            finally:
                probe.close()
            if time.monotonic() > deadline:
                raise HarnessError(f"/up on :{server.port} not 200 within {RECOVERY_SECONDS} s of the restore")
            time.sleep(0.1)


# --- prune-expired: its batches were made when the clusters started ------------------------------------------


@pytest.mark.parametrize("label", list(CLUSTERS))
def test_prune_expired_is_final_on_the_other_process(runners: dict[str, Runner], label: str) -> None:
    runner = runners[label]
    assert runner.prune is not None
    if not runner.prune.finished:
        runner.record(runner.prune.finish())
    for name in PRUNE_PATHS:
        tally = runner.tallies[name]
        assert tally.trials == PRUNE_BATCH
        assert tally.stale == 0, tally.details
