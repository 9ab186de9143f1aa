"""The real service in a subprocess: `python -m sanctum_py migrate`, then `serve` on a free loopback port.

For tests that must talk to the server as any client would (the contract fuzzer sends raw HTTP built
by schemathesis, not through aiohttp's test client). Settings travel as environment variables over a
clean environment: every variable that names a setting is dropped from the inherited one first, so a
developer's shell (DATABASE_URL, REDIS_URL, ...) cannot leak in, and `--env-file` points at an empty
file in the temporary directory, so the repository's `.env` is neither read nor written.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sanctum_py.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_TAIL = 6000


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    env_file: Path
    environment: dict[str, str]
    log_file: Path

    def cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run `python -m sanctum_py <args>` against the same settings and database as the server."""
        return finish(self.start_cli(*args, extra_env=extra_env))

    def start_cli(self, *args: str, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """`cli` without waiting: a Python process takes seconds to start, worth overlapping."""
        return subprocess.Popen(
            [sys.executable, "-m", "sanctum_py", "--env-file", str(self.env_file), *args],
            cwd=REPO_ROOT,
            env={**self.environment, **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def log_tail(self) -> str:
        """The end of the server's output: tracebacks of unhandled errors land here."""
        text = self.log_file.read_text(encoding="utf-8", errors="replace")
        return text[-LOG_TAIL:]


def finish(process: subprocess.Popen[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Wait for a process from `LiveServer.start_cli` and collect its output."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def clean_environment(settings: Mapping[str, str]) -> dict[str, str]:
    setting_names = {name.upper() for name in Settings.model_fields}
    inherited = {name: value for name, value in os.environ.items() if name.upper() not in setting_names}
    return {**inherited, **settings}


@contextmanager
def live_server(directory: Path, settings: Mapping[str, str]) -> Iterator[LiveServer]:
    """Migrate a database and serve it until the block ends; `settings` are environment variables
    (DATABASE_URL, APP_KEY, ...). HOST and PORT are chosen here."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env_file = directory / "server.env"
    env_file.write_text("", encoding="utf-8")
    environment = clean_environment({"APP_URL": base_url, **settings, "HOST": "127.0.0.1", "PORT": str(port)})
    log_file = directory / "server.log"
    server = LiveServer(base_url, env_file, environment, log_file)

    migrated = server.cli("migrate")
    assert migrated.returncode == 0, f"migrate failed:\n{migrated.stdout}\n{migrated.stderr}"
    with log_file.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sanctum_py", "--env-file", str(env_file), "serve"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/up", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the server did not answer /up within {START_TIMEOUT} s:\n{server.log_tail()}")
