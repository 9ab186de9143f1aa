"""Revoke on one process, use at once on another: the trial harness behind issue 14's coherence proof.

Black-box on purpose: everything here is HTTP against real `python -m sanctum_py serve` processes, the CLI,
and (for the mail a reset sends) the `file` mail driver's folder. Nothing reaches into the service, so the
same trials run against any implementation of the token cache.

A *trial* (see `Runner.run`):
1. get a fresh token (a login, on node A; servers run with BCRYPT_ROUNDS=4);
2. warm it on node B: GET /api/me on B answers 200 twice (if B caches tokens, it holds this one now);
3. revoke it through one path (`PATHS`) on node A;
4. at once (no sleep) use it on node B and record whether B accepted it. 200 is a STALE ACCEPT. For the
   paths that change the user rather than end the token (role change, 2FA), B's answer must show the
   user as it is after the change.

"Node" A and B are two `serve` processes on two ports (`TWO_NODES`), or two workers of one `serve --workers 2`
(`TWO_WORKERS`): then A and B are kept-alive connections pinned to different workers, read from /proc
(`owner_of`), and re-checked after every trial.

Settings travel as environment variables; `Topology.settings` holds what each topology is started with
and `SANCTUM_COHERENCE_SETTINGS` (`KEY=VALUE,KEY=VALUE`) overrides them all, so the same trials can be
pointed at another configuration (`TOKEN_CACHE=on` proves they catch a cache nobody invalidates).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import http.client
import itertools
import json
import os
import re
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy
import asyncpg
import redis

from tests.support.servers import (
    ServerProcess,
    children_of,
    listeners,
    owner_of,
    run_cli,
    server_environment,
    start_cli,
)

PASSWORD = "password123"
UNAUTHENTICATED = 401
MAIL_SECONDS = 15.0  # a reset mail is written after the answer: how long to wait for it
WORKER_CONNECTIONS = 16  # new connections spread over `--workers 2`: all on one worker has odds 2 * 2**-16
RELINK_AFTER = 20.0  # seconds idle after which kept-alive links are opened again (aiohttp closes idle ones at 75 s)
PRUNE_MARGIN = 2.5  # seconds past the 1-minute lifetime before a prune batch is due (timestamps are whole seconds)
SETTINGS_OVERRIDE = "SANCTUM_COHERENCE_SETTINGS"

# What every topology runs with, besides its database, Redis and key. Throttles that would stop a trial loop
# are lifted (each is tested elsewhere); strict refresh reuse (no grace window), so a second presentation of a
# rotated refresh token is reuse at once; 1-minute access tokens on the refresh-token wires (v1, envelope,
# GraphQL), so the prune trials have tokens that expire; a cache lifetime well past that minute (5 min), so a
# token that expires, or is pruned, is still in B's cache when it happens, and a stale entry lives long.
BASE_SETTINGS: dict[str, str] = {
    "TOKEN_CACHE": "auto",
    "TOKEN_CACHE_SECONDS": "300",
    "BCRYPT_ROUNDS": "4",
    "API_RATE_LIMIT": "1000000",
    "GRAPHQL_LOGOUT_THROTTLE_SECONDS": "0",
    "REFRESH_THROTTLE_SECONDS": "0",
    "REFRESH_REUSE_GRACE_SECONDS": "0",
    "PASSWORD_RESET_THROTTLE_SECONDS": "0",
    "ACCESS_TOKEN_MINUTES": "1",
    "MAIL_DRIVER": "file",
    "LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class Topology:
    """How the processes under test are laid out, and what they are started with."""

    name: str
    servers: int  # `serve` commands, each on its own port
    workers: int  # `--workers` of each
    settings: Mapping[str, str] = field(default_factory=dict)
    pinned: Mapping[str, str] = field(default_factory=dict)  # what a test specifies: SANCTUM_COHERENCE_SETTINGS
    # cannot change it

    def environment(self, **extra: str) -> dict[str, str]:
        """BASE_SETTINGS, this topology's, `extra` (database, Redis, ...), SANCTUM_COHERENCE_SETTINGS, `pinned`."""
        values = {**BASE_SETTINGS, **self.settings, **{k.upper(): v for k, v in extra.items()}}
        values.update(settings_override())
        values.update(self.pinned)
        return values


TWO_NODES = Topology("two nodes", servers=2, workers=1)
TWO_WORKERS = Topology("serve --workers 2", servers=1, workers=2)
TOPOLOGIES = {"two-nodes": TWO_NODES, "workers-2": TWO_WORKERS}


def settings_override() -> dict[str, str]:
    raw = os.environ.get(SETTINGS_OVERRIDE, "")
    pairs = [item.strip() for item in raw.split(",") if item.strip()]
    if any("=" not in pair for pair in pairs):
        raise ValueError(f"{SETTINGS_OVERRIDE} takes KEY=VALUE[,KEY=VALUE...], got {raw!r}")
    return {key.strip().upper(): value.strip() for key, value in (pair.split("=", 1) for pair in pairs)}


class HarnessError(AssertionError):
    """The service answered something no trial expects (a 5xx, a refused login...): never a stale accept,
    always a failure, with the request and the answer."""


# --- links: kept-alive connections to one process --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    elapsed: float  # seconds, request sent to answer read
    done_at: float  # time.perf_counter() when the answer was read

    def json(self) -> Any:
        return json.loads(self.body)


class Link:
    """One kept-alive HTTP connection; `name` says which process it reaches (for messages)."""

    def __init__(self, name: str, connection: http.client.HTTPConnection) -> None:
        self.name = name
        self.connection = connection
        self.last_used = time.monotonic()
        self.statuses: dict[int, int] = {}

    def call(self, method: str, path: str, body: object = None, *, token: str | None = None) -> Reply:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        done = time.perf_counter()
        self.last_used = time.monotonic()
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        return Reply(response.status, data, done - started, done)

    def expect(self, status: int, method: str, path: str, body: object = None, *, token: str | None = None) -> Reply:
        reply = self.call(method, path, body, token=token)
        if reply.status != status:
            raise HarnessError(
                f"{method} {path} on {self.name}: {reply.status} (expected {status}) {reply.body[:300]!r}"
            )
        return reply

    def close(self) -> None:
        self.connection.close()


# --- clusters: the processes of one topology -----------------------------------------------------------------


class Cluster:
    """The `serve` processes of a topology, started once; `a` revokes, `b` is warmed and then used."""

    def __init__(self, topology: Topology, workdir: Path, env: dict[str, str]) -> None:
        self.topology = topology
        self.workdir = workdir
        self.env = env
        self.mail_dir = Path(env["MAIL_FILE_PATH"])
        self.servers: list[ServerProcess] = []
        self.workers: list[int] = []
        self.a: Link
        self.b: Link
        self._spare: list[http.client.HTTPConnection] = []

    @property
    def cache_seconds(self) -> float:
        return float(self.env.get("TOKEN_CACHE_SECONDS", "10"))

    def start(self) -> None:
        args = ("--workers", str(self.topology.workers)) if self.topology.workers > 1 else ()
        for _ in range(self.topology.servers):
            self.servers.append(ServerProcess(self.workdir, self.env, *args))
        for server in self.servers:
            server.wait_up()
        if self.topology.workers > 1:
            self.workers = wait_for_workers(self.servers[0], self.topology.workers)
        self.link()

    def link(self) -> None:
        """(Re)open A and B: two ports, or two connections owned by two different workers."""
        self.close_links()
        if self.topology.servers >= 2:
            self.a = Link(f"node A (:{self.servers[0].port})", self.servers[0].connect())
            self.b = Link(f"node B (:{self.servers[1].port})", self.servers[1].connect())
            return
        server = self.servers[0]
        if self.topology.workers == 1:  # one process: A and B are two connections to it
            self.a = Link(f"node (:{server.port})", server.connect())
            self.b = Link(f"node (:{server.port})", server.connect())
            return
        owners: dict[int, http.client.HTTPConnection] = {}
        for _ in range(WORKER_CONNECTIONS):  # the kernel hashes each new connection onto one listener
            connection = server.connect()
            self._spare.append(connection)
            connection.request("GET", "/up")
            connection.getresponse().read()
            owners.setdefault(owner_of(connection, self.workers, server.port), connection)
        if len(owners) < 2:
            raise HarnessError(f"every connection landed on one worker of {self.workers}")
        first, second = sorted(owners)[:2]
        self.a = Link(f"worker A (pid {first})", owners[first])
        self.b = Link(f"worker B (pid {second})", owners[second])

    def fresh_links(self) -> None:
        """Reopen links idle long enough for the server to close them (a closed link would reconnect to
        whichever worker the kernel picks)."""
        if time.monotonic() - min(self.a.last_used, self.b.last_used) > RELINK_AFTER:
            self.link()

    def check_apart(self) -> None:
        """A and B still reach two different processes (a link the server closed would have moved)."""
        if self.topology.servers >= 2 or self.topology.workers == 1:
            return
        port = self.servers[0].port
        owner_a = owner_of(self.a.connection, self.workers, port)
        owner_b = owner_of(self.b.connection, self.workers, port)
        if owner_a == owner_b:
            raise HarnessError(f"A and B both on worker {owner_a}")

    def cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(self.workdir, self.env, *args, extra_env=extra_env)

    def start_cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return start_cli(self.workdir, self.env, *args, extra_env=extra_env)

    def output(self, tail: int | None = 4000) -> str:
        """What the servers printed (the last `tail` characters of each; None: all of it)."""
        return "\n".join(server.output()[-tail if tail else 0 :] for server in self.servers)

    def close_links(self) -> None:
        for connection in self._spare:
            connection.close()
        self._spare.clear()
        for name in ("a", "b"):
            link = getattr(self, name, None)
            if link is not None:
                link.close()

    def stop(self) -> list[int]:
        self.close_links()
        return [server.stop() for server in self.servers]


def wait_for_workers(server: ServerProcess, count: int, seconds: float = 30.0) -> list[int]:
    """The worker pids, once `count` children of the `serve` command listen on its port."""
    deadline = time.monotonic() + seconds
    while True:
        workers = sorted(listeners(children_of(server.pid), server.port))
        if len(workers) == count:
            return workers
        if time.monotonic() > deadline:
            raise HarnessError(f"{len(workers)} of {count} workers listening:\n{server.output()}")
        time.sleep(0.1)


def cluster_environment(
    topology: Topology, workdir: Path, *, database_url: str, app_key: str, redis_url: str | None, redis_prefix: str
) -> dict[str, str]:
    extra = {
        "DATABASE_URL": database_url,
        "APP_KEY": app_key,
        "REDIS_PREFIX": redis_prefix,
        "MAIL_FILE_PATH": str(workdir / "mail"),
    }
    if redis_url:
        extra["REDIS_URL"] = redis_url
    return server_environment(**topology.environment(**extra))


@contextlib.contextmanager
def running_cluster(
    topology: Topology,
    workdir: Path,
    *,
    database_url: str,
    app_key: str,
    redis_url: str | None,
    redis_prefix: str,
    migrate: bool = True,
) -> Iterator[Cluster]:
    """Migrate (unless told not to) and start the topology; stop every process it started on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = cluster_environment(
        topology, workdir, database_url=database_url, app_key=app_key, redis_url=redis_url, redis_prefix=redis_prefix
    )
    if migrate:
        migrated = run_cli(workdir, env, "migrate")
        if migrated.returncode != 0:
            raise HarnessError(f"migrate failed:\n{migrated.stdout}\n{migrated.stderr}")
    cluster = Cluster(topology, workdir, env)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# --- trials ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trial:
    path: str
    stale: bool
    latency: float  # seconds from the revocation's answer on A to the use's answer on B
    detail: str = ""


@dataclass
class Account:
    user_id: int
    username: str
    email: str
    password: str = PASSWORD
    last_change: float = 0.0  # wall time of the last change a trial made to the row (2FA trials)
    two_factor: bool = False
    manager: str | None = None  # a long-lived token of the account, kept on A


@dataclass
class Tally:
    trials: int = 0
    stale: int = 0
    latencies: list[float] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, trial: Trial) -> None:
        self.trials += 1
        self.latencies.append(trial.latency)
        if trial.stale:
            self.stale += 1
            self.details.append(trial.detail)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


ME = "/api/me"
ENVELOPE_ME = "/api/auth/me"
GRAPHQL_AUTH = "mutation ($u: String!, $p: String!) { auth(usernameoremail: $u, password: $p) { tokens { accessToken refreshToken } } }"  # noqa: E501
GRAPHQL_LOGOUT = (
    "mutation ($a: String!, $r: String!) { logout(access_token: $a, refresh_token: $r) { success message } }"
)
RESET_LINK = re.compile(r"/reset-password/([0-9a-f]{64})")


class Runner:
    """Runs trials of every path on one cluster, keeping the accounts each path reuses."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.tallies: dict[str, Tally] = {}
        # Every secret the trials handled (tokens, passwords, reset tokens): the test suite checks that none
        # of them appears in what the servers logged (tests/support/secret_scan.py).
        self.secrets: list[str] = []
        self._names = itertools.count(1)
        self._run = secrets.token_hex(3)
        self._accounts: dict[str, list[Account]] = {}
        self._admin: Account | None = None
        self._admin_token: str | None = None
        self._pending_admin: tuple[str, subprocess.Popen[str]] | None = None
        self.prune: PruneBatch | None = None

    @property
    def a(self) -> Link:
        return self.cluster.a

    @property
    def b(self) -> Link:
        return self.cluster.b

    # accounts ----------------------------------------------------------------------------------------

    def register(self) -> Account:
        username = f"c{self._run}x{next(self._names)}"
        body = {
            "name": "Coherence",
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        }
        reply = self.a.expect(201, "POST", "/api/register", body)
        return Account(int(reply.json()["data"]["id"]), username, f"{username}@example.com")

    def account(self, path: str, index: int = 0) -> Account:
        pool = self._accounts.setdefault(path, [])
        while len(pool) <= index:
            pool.append(self.register())
        return pool[index]

    def start_admin(self) -> None:
        """Admins only come from the CLI (registration cannot choose a role); a CLI takes seconds to start,
        so it runs while other trials do."""
        if self._admin is None and self._pending_admin is None:
            username = f"adm{self._run}x{next(self._names)}"
            process = self.cluster.start_cli(
                *("create-user", "--name", "Admin", "--username", username, "--email", f"{username}@example.com"),
                *("--role", "admin"),
                extra_env={"SANCTUM_PASSWORD": PASSWORD},
            )
            self._pending_admin = (username, process)

    def admin_token(self) -> str:
        if self._admin is None:
            self.start_admin()
            assert self._pending_admin is not None
            username, process = self._pending_admin
            stdout, stderr = process.communicate(timeout=60)
            if process.returncode != 0:
                raise HarnessError(f"create-user failed: {stdout}{stderr}")
            self._admin = Account(int(stdout.split()[2]), username, f"{username}@example.com")
        if self._admin_token is None:
            self._admin_token = self.login(self._admin)
        return self._admin_token

    def forget_long_lived_tokens(self) -> None:
        """The admin's and the accounts' kept tokens: a prune with SANCTUM_EXPIRATION=1 deleted every token
        older than a minute, these among them. The next trial that needs one signs in again."""
        self._admin_token = None
        for pool in self._accounts.values():
            for account in pool:
                account.manager = None

    def close(self) -> None:
        """Wait for a create-user still running (its pipes and process would outlive the test otherwise)."""
        if self._pending_admin is not None and self._admin is None:
            _, process = self._pending_admin
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=60)
            if process.poll() is None:
                process.kill()
                process.communicate()

    def login(self, account: Account, link: Link | None = None) -> str:
        reply = (link or self.a).expect(
            200, "POST", "/api/login", {"login": account.username, "password": account.password}
        )
        return self.seen(str(reply.json()["access_token"]))

    def seen(self, secret: str) -> str:
        self.secrets.append(secret)
        return secret

    def v1_login(self, account: Account) -> tuple[str, str]:
        body = {"username": account.username, "password": account.password}
        reply = self.a.expect(200, "POST", "/api/v1/auth/login", body).json()
        return self.seen(str(reply["token"])), self.seen(str(reply["refresh_token"]))

    # the steps of a trial ----------------------------------------------------------------------------

    def warm(self, token: str, path: str = ME) -> Reply:
        """B verifies the token twice: if B caches tokens, it holds this one now."""
        self.b.expect(200, "GET", path, token=token)
        return self.b.expect(200, "GET", path, token=token)

    def refused(self, name: str, token: str, revoked: Reply) -> Trial:
        """Use the revoked token on B at once: 401 is right, 200 is a stale accept, anything else an error."""
        used = self.b.call("GET", ME, token=token)
        if used.status not in (200, UNAUTHENTICATED):
            raise HarnessError(f"{name}: B answered {used.status} {used.body[:300]!r}")
        detail = (
            f"{name}: token {token.split('|')[0][:12]}… accepted on {self.b.name} after the revocation on {self.a.name}"
        )
        return Trial(name, used.status == 200, used.done_at - revoked.done_at, detail)

    # paths --------------------------------------------------------------------------------------------

    def laravel_logout(self) -> list[Trial]:
        token = self.login(self.account("laravel_logout"))
        self.warm(token)
        revoked = self.a.expect(200, "POST", "/api/logout", token=token)
        return [self.refused("logout (Laravel)", token, revoked)]

    def v1_logout(self) -> list[Trial]:
        token, _ = self.v1_login(self.account("v1_logout"))
        self.warm(token)
        revoked = self.a.expect(200, "POST", "/api/v1/auth/logout", token=token)
        return [self.refused("logout (v1)", token, revoked)]

    def envelope_logout(self) -> list[Trial]:
        account = self.account("envelope_logout")
        body = {"username": account.username, "password": account.password}
        token = self.seen(str(self.a.expect(200, "POST", "/api/auth/login", body).json()["data"]["token"]))
        self.warm(token)
        revoked = self.a.expect(204, "POST", "/api/auth/logout", token=token)
        return [self.refused("logout (envelope)", token, revoked)]

    def graphql_logout(self) -> list[Trial]:
        account = self.account("graphql_logout")
        answer = self.a.expect(
            200,
            "POST",
            "/graphql",
            {"query": GRAPHQL_AUTH, "variables": {"u": account.username, "p": account.password}},
        )
        tokens = answer.json().get("data", {}) or {}
        if not tokens.get("auth"):
            raise HarnessError(f"GraphQL auth: {answer.body[:300]!r}")
        access = self.seen(str(tokens["auth"]["tokens"]["accessToken"]))
        refresh = self.seen(str(tokens["auth"]["tokens"]["refreshToken"]))
        self.warm(access)
        revoked = self.a.expect(
            200, "POST", "/graphql", {"query": GRAPHQL_LOGOUT, "variables": {"a": access, "r": refresh}}
        )
        if (revoked.json().get("data") or {}).get("logout", {}).get("success") is not True:
            raise HarnessError(f"GraphQL logout: {revoked.body[:300]!r}")
        return [self.refused("logout (GraphQL)", access, revoked)]

    def token_delete(self) -> list[Trial]:
        account = self.account("token_delete")
        if account.manager is None:
            account.manager = self.login(account)
        token = self.login(account)
        self.warm(token)
        revoked = self.a.expect(200, "DELETE", f"/api/tokens/{token.split('|')[0]}", token=account.manager)
        return [self.refused("token delete", token, revoked)]

    def logout_all(self) -> list[Trial]:
        token = self.login(self.account("logout_all"))
        self.warm(token)
        revoked = self.a.expect(200, "POST", "/api/logout-all", {}, token=token)
        return [self.refused("logout of all devices", token, revoked)]

    def logout_others(self) -> list[Trial]:
        account = self.account("logout_others")
        if account.manager is None:
            account.manager = self.login(account)
        token = self.login(account)
        self.warm(token)
        revoked = self.a.expect(200, "POST", "/api/logout-all", {"except_current": True}, token=account.manager)
        return [self.refused("logout of all other devices", token, revoked)]

    def password_reset(self) -> list[Trial]:
        account = self.account("password_reset")
        token = self.login(account)
        self.a.expect(200, "POST", "/api/forgot-password", {"email": account.email})
        reset_token = self.seen(self.reset_token_for(account.email))
        new_password = self.seen(f"pw-{secrets.token_hex(6)}")
        body = {
            "token": reset_token,
            "email": account.email,
            "password": new_password,
            "password_confirmation": new_password,
        }
        self.warm(token)
        revoked = self.a.expect(200, "POST", "/api/reset-password", body)
        account.password = new_password
        return [self.refused("password reset", token, revoked)]

    def reset_token_for(self, address: str) -> str:
        """The token of the reset mail to `address` (the file driver's .eml); every mail read is removed."""
        deadline = time.monotonic() + MAIL_SECONDS
        while time.monotonic() < deadline:
            for path in sorted(self.cluster.mail_dir.glob("*.eml")):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address not in str(message["To"]):
                    continue
                part = message.get_body(("plain",))
                text = part.get_content() if part is not None else ""
                path.unlink()
                found = RESET_LINK.search(str(text))
                if found is not None:  # else the notice of an earlier reset: read, dropped
                    return found.group(1)
            time.sleep(0.02)
        raise HarnessError(f"no reset mail to {address} within {MAIL_SECONDS} s")

    def deactivation(self) -> list[Trial]:
        admin = self.admin_token()
        account = self.account("deactivation")
        token = self.login(account)
        self.warm(token)
        revoked = self.a.expect(200, "PATCH", f"/api/users/{account.user_id}", {"is_active": False}, token=admin)
        trial = self.refused("deactivation by an admin", token, revoked)
        self.a.expect(200, "PATCH", f"/api/users/{account.user_id}", {"is_active": True}, token=admin)
        return [trial]

    def role_change(self) -> list[Trial]:
        """The token stays good; B must show the role the admin just gave (the envelope's user shows roles)."""
        admin = self.admin_token()
        account = self.account("role_change")
        token = self.login(account)
        before = self.warm(token, ENVELOPE_ME).json()["data"]["user"]["role"]
        after = "staff" if before == "user" else "user"
        revoked = self.a.expect(200, "PATCH", f"/api/users/{account.user_id}", {"role": after}, token=admin)
        used = self.b.call("GET", ENVELOPE_ME, token=token)
        if used.status != 200:
            raise HarnessError(f"role change: B answered {used.status} {used.body[:300]!r}")
        shown = used.json()["data"]["user"]["role"]
        detail = f"role change: B showed role {shown!r} after the admin set {after!r} on A"
        return [Trial("role change by an admin", shown != after, used.done_at - revoked.done_at, detail)]

    def two_factor(self) -> list[Trial]:
        """2FA on or off does not end tokens (Fortify's behaviour, kept); it changes the user row, whose
        `updated_at` /api/me shows. B must show the row after the change, as A does."""
        pool = [self.account("two_factor", index) for index in range(3)]
        account = min(pool, key=lambda candidate: candidate.last_change)
        if account.manager is None:
            account.manager = self.login(account)
            self.a.expect(
                201, "POST", "/api/user/confirm-password", {"password": account.password}, token=account.manager
            )
        token = self.login(account)
        warmed = self.warm(token).json()["updated_at"]
        # updated_at is stored in whole seconds: change it in a later second than the one B holds, or the
        # change is invisible and the trial proves nothing.
        wait_past_second(max(account.last_change, parse_laravel_time(warmed)))
        method = "DELETE" if account.two_factor else "POST"
        revoked = self.a.expect(200, method, "/api/user/two-factor-authentication", token=account.manager)
        account.two_factor = not account.two_factor
        account.last_change = time.time()
        used = self.b.call("GET", ME, token=token)
        if used.status != 200:
            raise HarnessError(f"2FA: B answered {used.status} {used.body[:300]!r}")
        truth = self.a.expect(200, "GET", ME, token=token).json()["updated_at"]
        if truth == warmed:
            raise HarnessError(f"2FA {method}: updated_at did not move ({truth}); the trial would prove nothing")
        shown = used.json()["updated_at"]
        name = "2FA disable" if method == "DELETE" else "2FA enable"
        detail = f"{name}: B showed updated_at {shown} after the change, A shows {truth}"
        return [Trial(name, shown != truth, used.done_at - revoked.done_at, detail)]

    def refresh(self) -> list[Trial]:
        """v1 (refresh tokens always on): a rotation revokes the old access token, then presenting the rotated
        refresh token again is reuse, which revokes the whole family, the new access token with it."""
        old_access, old_refresh = self.v1_login(self.account("refresh"))
        self.warm(old_access)
        rotated = self.a.expect(200, "POST", "/api/v1/auth/refresh-token", {"refresh_token": old_refresh})
        rotation = self.refused("refresh rotation", old_access, rotated)
        new_access = self.seen(str(rotated.json()["token"]))
        self.seen(str(rotated.json()["refresh_token"]))
        self.warm(new_access)
        reused = self.a.expect(401, "POST", "/api/v1/auth/refresh-token", {"refresh_token": old_refresh})
        return [rotation, self.refused("refresh-token reuse", new_access, reused)]

    # running -------------------------------------------------------------------------------------------

    def record(self, trials: list[Trial]) -> list[Trial]:
        for trial in trials:
            self.tallies.setdefault(trial.path, Tally()).add(trial)
        return trials

    def run(self, path: str) -> list[Trial]:
        """One trial of `path` (a key of PATHS); a prune batch that is due is finished first."""
        self.cluster.fresh_links()
        if self.prune is not None and self.prune.due and not self.prune.finished:
            self.record(self.prune.finish())
        trials = PATHS[path](self)
        self.cluster.check_apart()
        return self.record(trials)


def parse_laravel_time(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def wait_past_second(moment: float) -> None:
    """Sleep until the wall clock is in a later whole second than `moment`."""
    target = int(moment) + 1.02
    while (now := time.time()) < target:
        time.sleep(target - now)


PATHS: dict[str, Callable[[Runner], list[Trial]]] = {
    "laravel-logout": Runner.laravel_logout,
    "v1-logout": Runner.v1_logout,
    "envelope-logout": Runner.envelope_logout,
    "graphql-logout": Runner.graphql_logout,
    "token-delete": Runner.token_delete,
    "logout-all": Runner.logout_all,
    "logout-others": Runner.logout_others,
    "password-reset": Runner.password_reset,
    "deactivation": Runner.deactivation,
    "role-change": Runner.role_change,
    "two-factor": Runner.two_factor,
    "refresh": Runner.refresh,  # two trials: rotation, then reuse
}
PRUNE_PATHS = ("prune-expired", "prune-expired (SANCTUM_EXPIRATION lowered)")
# Every trial name the paths record, in the order reports list them.
TRIAL_NAMES = (
    "logout (Laravel)",
    "logout (v1)",
    "logout (envelope)",
    "logout (GraphQL)",
    "token delete",
    "logout of all devices",
    "logout of all other devices",
    "password reset",
    "deactivation by an admin",
    "role change by an admin",
    "2FA enable",
    "2FA disable",
    "refresh rotation",
    "refresh-token reuse",
    *PRUNE_PATHS,
)


class PruneBatch:
    """`prune-expired` can only be tried on tokens old enough to prune, so a batch of them is made early and
    finished once due (other trials run meanwhile):

    - v1 access tokens, which live ACCESS_TOKEN_MINUTES (1): warmed on B, they expire while B holds them;
      after `prune-expired` B must refuse them (B's cache knows their expiry, so this variant passes even
      without any invalidation: it guards the expiry check);
    - Laravel tokens that never expire on the servers, pruned by the CLI run with SANCTUM_EXPIRATION=1 (an
      operator shortening the lifetime and pruning before the servers restart with it): B believes them
      valid, so only the prune's invalidation can make B refuse them.
    """

    def __init__(self, runner: Runner, count: int) -> None:
        self.runner = runner
        self.count = count
        self.expiring: list[str] = []
        self.unexpiring: list[str] = []
        self.finished = False
        account = runner.account("prune")
        for _ in range(count):
            self.expiring.append(runner.v1_login(account)[0])
            self.unexpiring.append(runner.login(account))
        for token in (*self.expiring, *self.unexpiring):
            runner.warm(token)
        self.warmed_at = time.monotonic()
        self.due_at = self.warmed_at + 60 + PRUNE_MARGIN

    @property
    def due(self) -> bool:
        return time.monotonic() >= self.due_at

    def finish(self) -> list[Trial]:
        """Wait until due, prune with the CLI, and use every token on B at once."""
        runner = self.runner
        if (wait := self.due_at - time.monotonic()) > 0:
            time.sleep(wait)
        age = time.monotonic() - self.warmed_at
        if age > runner.cluster.cache_seconds * 0.75:
            raise HarnessError(
                f"prune batch finished {age:.0f} s after warming: past the cache's lifetime, it would prove nothing"
            )
        runner.cluster.fresh_links()
        for token in self.unexpiring:  # still good on the servers' own settings, just before the prune
            runner.b.expect(200, "GET", ME, token=token)
        pruned = runner.cluster.cli("prune-expired", "--hours", "0", extra_env={"SANCTUM_EXPIRATION": "1"})
        done = time.perf_counter()
        if pruned.returncode != 0:
            raise HarnessError(f"prune-expired failed: {pruned.stdout}{pruned.stderr}")
        deleted = re.search(r"\((\d+) deleted\)", pruned.stdout)
        if deleted is None or int(deleted.group(1)) < 2 * self.count:
            raise HarnessError(f"prune-expired deleted fewer than the batch's {2 * self.count} tokens: {pruned.stdout}")
        runner.forget_long_lived_tokens()
        trials: list[Trial] = []
        revoked = Reply(200, b"", 0.0, done)
        for name, tokens in zip(PRUNE_PATHS, (self.expiring, self.unexpiring), strict=True):
            trials.extend(runner.refused(name, token, revoked) for token in tokens)
        self.finished = True
        return trials


def new_redis_prefix(label: str) -> str:
    return f"sanctum_coherence_{label}_{secrets.token_hex(4)}:"


def forget_redis_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under `prefix` (what a cluster left in Redis)."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def scratch_database(kind: str, admin_url: str, name: str) -> Iterator[str]:
    """A new, empty database `name` on the PostgreSQL or MariaDB server `admin_url` names (its URL is
    yielded), dropped on the way out. `name` must be [a-z0-9_] (it is quoted, never parameterised)."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"database name {name!r}")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    if kind == "postgres":
        asyncio.run(_postgres(admin_url, f'CREATE DATABASE "{name}"'))
        try:
            yield url
        finally:  # FORCE: a connection left by a killed server must not keep the database alive
            asyncio.run(_postgres(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    elif kind == "mariadb":
        asyncio.run(_mysql(admin_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        try:
            yield url
        finally:
            asyncio.run(_mysql(admin_url, f"DROP DATABASE IF EXISTS `{name}`"))
    else:
        raise ValueError(f"database kind {kind!r}: postgres or mariadb")


async def _postgres(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _mysql(admin_url: str, statement: str) -> None:
    parts = urlsplit(admin_url)
    connection = await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        connection.close()
