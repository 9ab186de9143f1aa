"""What every bench script shares: wrk, the processes it starts, set-up requests, fresh databases.

bench/run.py, scale.py, prune_load.py and soak.py all start the service the same way (its own settings
file, inherited service settings dropped, `migrate` first), drive wrk the same way and read RSS from
/proc the same way, so their figures compare. Nothing here sends load anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address any load is ever sent to
DATABASES = ("sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"

# Service settings for every run: one process, cost-10 bcrypt on 2 threads (what the raw bcrypt
# baseline runs), and a rate limit nobody can reach, so 429s never shape the figures.
RATE_LIMIT_OFF = "1000000000"
BCRYPT_ROUNDS = 10
BCRYPT_THREADS = 2
PASSWORD = "bench-password-123"

INSTALL_WRK = "wrk is not installed. Install it with:\n    apt-get update -qq && apt-get install -y -qq wrk"


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int  # any of these means the figure is not a clean measurement
    socket_errors: int
    max_ms: float = 0.0  # the slowest request: a stall shows here first

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


# --- wrk -----------------------------------------------------------------------------------------

_LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(output: str, percentile: int) -> float:
    match = re.search(rf"^\s*{percentile}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {percentile}% latency in wrk output:\n{output}")
    return float(match.group(1)) * _LATENCY_UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read the figures out of `wrk --latency`'s text report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if rps is None or total is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    latency = re.search(r"^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\s", output, re.MULTILINE)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=_latency_ms(output, 50),
        p99_ms=_latency_ms(output, 99),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        max_ms=float(latency.group(1)) * _LATENCY_UNITS_MS[latency.group(2)] if latency else 0.0,
    )


def wrk_command(url: str, script: Path, connections: int, duration: int) -> list[str]:
    # -t2: two client threads, as the brief fixes; wrk needs at least one connection per thread.
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    return [*command, "-s", str(script), url]


def run_wrk(url: str, script: Path, connections: int, duration: int) -> WrkResult:
    # wrk stops itself after -d; the timeout only guards against a wedged wrk.
    command = wrk_command(url, script, connections, duration)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


ROUND_SECONDS = 1  # one round: this long on the baseline, then as long on the service


@dataclass(frozen=True)
class Interleaved:
    """A baseline and a service measured in alternating short rounds, and what the rounds agree on."""

    baseline: WrkResult
    service: WrkResult
    ratio: float  # the median of the rounds' service/baseline req/s
    round_ratios: tuple[float, ...]


def run_interleaved(baseline_url: str, service_url: str, script: Path, connections: int, duration: int) -> Interleaved:
    """`duration` seconds on each, as alternating rounds of ROUND_SECONDS (baseline first).

    One long pass each was at the mercy of this machine's speed, which drifts by a third from one
    ten-second stretch to the next on a shared VM: the same code measured 0.31 and 0.81 in
    back-to-back runs. Each round's ratio compares two passes seconds apart, and the median drops
    the rounds a burst spoiled. The WrkResults sum the rounds' requests over their time and give the
    median round's latencies (a p99 across rounds cannot be rebuilt from wrk's reports)."""
    rounds = max(1, duration // ROUND_SECONDS)
    seconds = max(1, duration // rounds)
    baseline: list[WrkResult] = []
    service: list[WrkResult] = []
    for _ in range(rounds):
        baseline.append(run_wrk(baseline_url, script, connections, seconds))
        service.append(run_wrk(service_url, script, connections, seconds))
    ratios = tuple(s.requests_per_second / b.requests_per_second for b, s in zip(baseline, service, strict=True))
    return Interleaved(_combined(baseline, seconds), _combined(service, seconds), statistics.median(ratios), ratios)


def _combined(results: Sequence[WrkResult], seconds: int) -> WrkResult:
    return WrkResult(
        requests_per_second=sum(r.requests for r in results) / (seconds * len(results)),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        requests=sum(r.requests for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        max_ms=max(r.max_ms for r in results),
    )


@contextlib.contextmanager
def background_wrk(url: str, script: Path, connections: int, max_duration: int) -> Iterator[BackgroundWrk]:
    """wrk running while the caller does something else; `.stop()` ends it early and returns its report.

    Leaving the block without calling stop() (an error) still stops wrk."""
    process = subprocess.Popen(
        wrk_command(url, script, connections, max_duration),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C in the terminal reaches this script only
    )
    handle = BackgroundWrk(process, max_duration)
    try:
        yield handle
    finally:
        if process.poll() is None:
            process.kill()  # this process, by its id
            process.wait(timeout=10)


class BackgroundWrk:
    def __init__(self, process: subprocess.Popen[str], max_duration: int) -> None:
        self.process = process
        self.max_duration = max_duration

    def stop(self, *, early: bool = True) -> WrkResult:
        """SIGINT makes wrk stop and print its report as if -d had run out; early=False waits for -d."""
        if early and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        stdout, stderr = self.process.communicate(timeout=self.max_duration + 60)
        if self.process.returncode != 0:
            raise RuntimeError(f"wrk failed ({self.process.returncode}): {stderr or stdout}")
        return parse_wrk(stdout)


def require_wrk() -> bool:
    """Print how to install wrk when it is missing; the scripts then exit with 2."""
    if shutil.which("wrk") is None:
        print(INSTALL_WRK, file=sys.stderr)
        return False
    return True


def lua_string(value: str) -> str:
    # JSON's escaping of an ASCII string is valid Lua string syntax.
    return json.dumps(value, ensure_ascii=True)


def write_get_script(path: Path, token: str) -> Path:
    """The same script loads the bare handler and /api/me, so both parse the same request."""
    path.write_text(
        f'wrk.method = "GET"\n'
        f'wrk.headers["Accept"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {lua_string("Bearer " + token)}\n',
        encoding="utf-8",
    )
    return path


def write_login_script(path: Path, login: str) -> Path:
    body = json.dumps({"login": login, "password": PASSWORD})
    path.write_text(
        f'wrk.method = "POST"\n'
        f"wrk.body = {lua_string(body)}\n"
        f'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Accept"] = "application/json"\n',
        encoding="utf-8",
    )
    return path


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def start_server(name: str, command: list[str], env: dict[str, str], port: int, log_path: Path) -> Server:
    log_file = log_path.open("wb")
    # Its own session: Ctrl-C in the terminal reaches only this script, which then stops the
    # server in order, and stop_server can signal the whole group (WORKERS > 1 spawns children).
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    log_file.close()  # the child holds its own descriptor
    return Server(name, process, port, log_path)


def stop_server(server: Server) -> None:
    process = server.process
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the group this script created, by its id
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        stop_server(server)


def wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    """Until the server answers anything at all on `path`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{log_tail(server.log_path)}")
        try:
            request(server.port, "GET", path)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s:\n{log_tail(server.log_path)}")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """VmRSS (resident now) or VmHWM (resident peak) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    raise RuntimeError(f"no {key} for pid {pid}")


# --- HTTP set-up calls ---------------------------------------------------------------------------


def request(
    port: int, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def expect(status: int, body: bytes, wanted: int, what: str) -> dict[str, Any]:
    if status != wanted:
        raise RuntimeError(f"{what}: HTTP {status}, wanted {wanted}: {body[:500]!r}")
    return dict(json.loads(body))


def register_user(port: int) -> tuple[str, str]:
    """A fresh user; returns (login, token)."""
    username = f"bench_{secrets.token_hex(4)}"
    fields = {"name": "Bench", "username": username, "email": f"{username}@example.com"}
    status, body = request(
        port, "POST", "/api/register", {**fields, "password": PASSWORD, "password_confirmation": PASSWORD}
    )
    return username, str(expect(status, body, 201, "register")["access_token"])


# --- databases -----------------------------------------------------------------------------------


async def postgres_execute(admin_url: str, sql: str) -> None:
    import asyncpg  # only needed when PostgreSQL is benchmarked

    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    """A new, empty database for one service run; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite://{workdir / 'bench.sqlite'}"
        return
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"  # only [a-z0-9_]: safe unquoted
    admin_url = f"{postgres_url.rstrip('/')}/postgres"
    asyncio.run(postgres_execute(admin_url, f"CREATE DATABASE {name}"))
    try:
        yield f"{postgres_url.rstrip('/')}/{name}"
    finally:
        # FORCE: a connection left by a killed server must not keep the database alive.
        asyncio.run(postgres_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def service_env(database_url: str, port: int, extra: dict[str, str]) -> dict[str, str]:
    from sanctum_py.settings import Settings

    # Drop every service setting inherited from this shell so only what is set here counts.
    settings_names = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in settings_names}
    env.update(
        APP_KEY="base64:" + base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
        DATABASE_URL=database_url,
        HOST=HOST,
        PORT=str(port),
        WORKERS="1",
        BCRYPT_ROUNDS=str(BCRYPT_ROUNDS),
        BCRYPT_THREADS=str(BCRYPT_THREADS),
        API_RATE_LIMIT=RATE_LIMIT_OFF,
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str], env_file: Path) -> None:
    command = [sys.executable, "-m", "sanctum_py", "--env-file", str(env_file), "migrate"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# --- odds and ends -------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text(encoding="ascii").split()[:3],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def exit_on_sigterm(signum: int, _frame: object) -> None:
    # SystemExit unwinds the ExitStacks: servers stopped, database dropped, temp dir removed.
    raise SystemExit(128 + signum)


def start_service(workdir: Path, database_url: str, extra_env: dict[str, str], name: str) -> Server:
    """Migrate, then `python -m sanctum_py serve` with its own settings file (workdir/<name>.env).

    The project's .env is neither read nor written; the log goes to workdir/<name>.log."""
    port = free_port()
    env = service_env(database_url, port, extra_env)
    env_file = workdir / f"{name}.env"
    migrate(env, env_file)
    command = [sys.executable, "-m", "sanctum_py", "--env-file", str(env_file), "serve"]
    return start_server(f"sanctum_py ({name})", command, env, port, workdir / f"{name}.log")


def parse_service_env(items: list[str]) -> dict[str, str]:
    """--service-env KEY=VALUE, repeatable."""
    if any("=" not in item for item in items):
        raise ValueError("--service-env takes KEY=VALUE")
    return dict(item.split("=", 1) for item in items)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; every column but the first right-aligned (they hold figures)."""
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


# --- the command line every script shares --------------------------------------------------------

# What a failed set-up or load pass raises: reported in one line, without a traceback, and exit 1.
BENCH_ERRORS = (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired)

Measured = TypeVar("Measured")


def add_common_options(parser: argparse.ArgumentParser, service_env_help: str = "extra setting") -> None:
    """--databases, --postgres-url, --service-env, --json and --strict, after the script's own options."""
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="server, no db")
    parser.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE", help=service_env_help)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")


def finish_common_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Turn --databases into a checked list and --service-env into a dict; parser.error (exit 2) on bad input."""
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if set(args.databases) - set(DATABASES) or not args.databases:
        parser.error(f"--databases takes {', '.join(DATABASES)}; got {args.databases}")
    try:
        args.service_env = parse_service_env(args.service_env)
    except ValueError as error:
        parser.error(str(error))


@dataclass
class BenchReport:
    """What a script prints and writes once its measurements are in."""

    table: str
    payload: dict[str, Any] = field(default_factory=dict)  # --json, after {"machine": ...}
    footer: str = ""  # appended to the "load average at start" line
    missed: bool | None = None  # a target missed; None: a "**NO**" anywhere in the table

    @property
    def any_missed(self) -> bool:
        return "**NO**" in self.table if self.missed is None else self.missed


def run_bench(
    args: argparse.Namespace,
    measure: Callable[[], Measured],
    report: Callable[[Measured], BenchReport],
    banner: str = "",
) -> int:
    """The main() of every script: wrk or exit 2, measure, print the table, --json, and --strict's exit 1.

    `measure` owns everything it starts (servers, databases, temp dirs) and stops it on any exit."""
    if not require_wrk():
        return 2
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    info = machine_info()
    progress(f"{info['cpus']} CPUs, load average {' '.join(info['loadavg'])}{banner}")
    try:
        measured = measure()
    except BENCH_ERRORS as error:
        # Everything started has been stopped by now; say what went wrong without a traceback.
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    result = report(measured)
    print(result.table)
    print(f"\nload average at start: {' '.join(info['loadavg'])}{result.footer}")
    if args.json:
        write_json(args.json, {"machine": info, **result.payload})
    return 1 if args.strict and result.any_missed else 0
