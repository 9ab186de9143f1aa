"""`python -m sanctum_py serve` as real subprocesses, and which of their processes holds a connection.

A test starts servers exactly as an operator does (environment variables, the CLI), waits on GET /up as a
load balancer would, and always stops them: SIGTERM to the process group it created, SIGKILL if that
group does not exit in time. Nothing here reaches into the service: which worker answered a request is
read from Linux's /proc (the worker that owns the connection's socket), not from anything the service says.

Settings travel as environment variables over a clean environment (`server_environment`): every variable
that names a setting is dropped from the inherited one first, so a developer's shell (DATABASE_URL,
REDIS_URL, ...) cannot leak in. Commands run in a temporary directory with no `.env`, so the repository's
`.env` is neither read nor written.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sanctum_py.settings import Settings

READY_SECONDS = 30.0
STOP_SECONDS = 20.0
CLI_SECONDS = 60.0
LOG_TAIL = 6000
TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel's pick for port 0, bound then released;
    the kernel does not hand it out again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any variable the service would read as a setting (names are
    case-insensitive), plus `settings` (upper-cased names)."""
    fields = {name.lower() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.lower() not in fields}
    env.update({name.upper(): value for name, value in settings.items()})
    return env


def start_cli(
    cwd: Path, env: Mapping[str, str], *args: str, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """`python -m sanctum_py <args>` without waiting: a Python process takes seconds to start, worth overlapping."""
    return subprocess.Popen(
        [sys.executable, "-m", "sanctum_py", *args],
        cwd=cwd,
        env={**env, **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = CLI_SECONDS) -> subprocess.CompletedProcess[str]:
    """Wait for a process from `start_cli` and collect its output (killed if it outlives `timeout`)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(
    cwd: Path, env: Mapping[str, str], *args: str, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return finish(start_cli(cwd, env, *args, extra_env=extra_env))


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: object = None,
    *,
    token: str | None = None,
    client_ip: str | None = None,
) -> Reply:
    """One request on a kept-alive connection (http.client reuses its socket while the server keeps it)."""
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if client_ip is not None:
        headers["X-Forwarded-For"] = client_ip
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    return Reply(response.status, {k: v for k, v in response.getheaders()}, response.read())


class ServerProcess:
    """One `serve` command (one process, or a parent and its workers), in its own process group."""

    def __init__(self, cwd: Path, env: Mapping[str, str], *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = cwd / f"serve-{self.port}.log"
        with self.log_path.open("wb") as log:  # the child writes to its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sanctum_py", "serve", "--port", str(self.port), *args],
                cwd=cwd,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it reaches spawned workers too
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def output(self) -> str:
        """Everything the server printed so far: tracebacks of unhandled errors land here."""
        return self.log_path.read_text(errors="replace")

    def wait_up(self) -> None:
        """Poll GET /up, as a load balancer's health check does, until it answers 200."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.output()}")
            connection = self.connect()
            try:
                if call(connection, "GET", "/up").status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"serve on port {self.port} not up after {READY_SECONDS} s:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM to the command (which forwards it to its workers); SIGKILL to the group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
        # Workers left behind by a parent that died first are still in the group: end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode


@dataclass(frozen=True)
class LiveServer:
    """A migrated database served by one `serve`, and the CLI against the same settings and database."""

    directory: Path
    environment: dict[str, str]
    serving: ServerProcess

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.serving.port}"

    @property
    def log_file(self) -> Path:
        return self.serving.log_path

    def cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(self.directory, self.environment, *args, extra_env=extra_env)

    def start_cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return start_cli(self.directory, self.environment, *args, extra_env=extra_env)

    def log_tail(self) -> str:
        return self.serving.output()[-LOG_TAIL:]


@contextmanager
def live_server(directory: Path, settings: Mapping[str, str]) -> Iterator[LiveServer]:
    """Migrate a database and serve it until the block ends; `settings` are environment variables
    (DATABASE_URL, APP_KEY, ...). The port is chosen here, APP_URL follows it unless `settings` says."""
    port = free_port()
    environment = server_environment(**{"APP_URL": f"http://127.0.0.1:{port}", **settings})
    migrated = run_cli(directory, environment, "migrate")
    assert migrated.returncode == 0, f"migrate failed:\n{migrated.stdout}\n{migrated.stderr}"
    serving = ServerProcess(directory, environment, port=port)
    try:
        serving.wait_up()
        yield LiveServer(directory, environment, serving)
    finally:
        serving.stop()


# --- which process owns a socket (Linux /proc) ------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc/<n>/stat; field 4 is the parent's pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_sockets() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket in this network namespace."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        rows.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state, inode))
    return rows


def listeners(pids: list[int], port: int) -> set[int]:
    """Which of `pids` hold a socket listening on `port`."""
    listening = {inode for local, _, state, inode in _tcp_sockets() if local == port and state == TCP_LISTEN}
    return {pid for pid in pids if _socket_inodes(pid) & listening}


def owner_of(connection: http.client.HTTPConnection, pids: list[int], port: int) -> int:
    """The process among `pids` holding the server side of `connection` (an open, used connection)."""
    assert connection.sock is not None, "send a request first"
    client_port = connection.sock.getsockname()[1]
    server_side = {
        inode
        for local, remote, state, inode in _tcp_sockets()
        if local == port and remote == client_port and state == TCP_ESTABLISHED
    }
    owners = [pid for pid in pids if _socket_inodes(pid) & server_side]
    assert len(owners) == 1, (client_port, owners)
    return owners[0]
