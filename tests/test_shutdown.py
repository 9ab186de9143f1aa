"""SIGTERM under load, to `python -m sanctum_py serve` run as an operator runs it.

In-flight requests (logins, slow on purpose: bcrypt at 12 rounds) finish with their normal answer, the
port stops taking connections at once, the process exits 0 with nothing alarming on stderr, and every
database connection it opened was closed by the service itself. That last one is read off the wire:
the database sits behind a TCP proxy (tests/support/tcp_proxy.py), and a pool closed properly ends
each connection with the protocol's goodbye (PostgreSQL's Terminate, MySQL's COM_QUIT), which a
process that merely exits never sends.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, TCPConnector

from tests.conftest import BACKENDS, RUN_ID, TEST_APP_KEY
from tests.support.secret_scan import record_output
from tests.support.servers import ServerProcess, run_cli, server_environment
from tests.support.tcp_proxy import TcpProxy, proxy_for, through

GOODBYE = {"postgres": b"X\x00\x00\x00\x04", "mariadb": b"\x01\x00\x00\x00\x01"}  # Terminate, COM_QUIT
# Per worker, at ~0.35 s of bcrypt each on two threads: about a second of work in flight at the signal
# (the two CPUs are shared by every worker, so more workers must not mean less work each).
LOGINS_PER_WORKER = 6
STOP_SECONDS = 10.0  # run_app's shutdown_timeout: the longest an in-flight request is waited for
ALARMS = ("Traceback", "Unclosed", "ResourceWarning", "Task was destroyed", "Exception ignored", " ERROR ")

NETWORK = [b for b in BACKENDS if b != "sqlite"]
CASES = [(backend, 1) for backend in NETWORK] + [(backend, 2) for backend in NETWORK[:1]]


@pytest.fixture
async def database_proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    async with proxy_for(database_url) as proxy:
        yield proxy


async def refused_at(port: int) -> float:
    """When a new connection to `port` is first refused. A connection accepted before that must still
    be answered properly (the signal may not have been handled yet).

    A connection the kernel completed while the listener was closing, but that the service never
    accepted, is reset (or closed) before a byte of answer: for the client that is a refusal too
    (nothing was processed; it may retry elsewhere)."""
    async with asyncio.timeout(5):
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except (ConnectionRefusedError, ConnectionResetError):  # reset: the listener closed mid-handshake
                return time.monotonic()
            answer = b""
            try:
                writer.write(b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                while chunk := await reader.read(65536):
                    answer += chunk
            except ConnectionResetError:
                if not answer:
                    return time.monotonic()
                raise  # an answer cut short: a request the service took and dropped
            finally:
                writer.close()
            if not answer:  # closed before a byte was read or answered: the same as a reset
                return time.monotonic()
            assert answer.startswith(b"HTTP/1.1 "), answer[:200]
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(("backend", "workers"), CASES, ids=[f"{b}-{w}worker" for b, w in CASES])
async def test_sigterm_finishes_in_flight_requests_and_closes_pools(
    backend: str, workers: int, database_url: str, database_proxy: TcpProxy, tmp_path: Path
) -> None:
    env = server_environment(
        PYTHONWARNINGS="default",
        DATABASE_URL=through(database_url, database_proxy),
        APP_KEY=TEST_APP_KEY,
        BCRYPT_ROUNDS="12",
        WORKERS=str(workers),
        LOG_LEVEL="INFO",
    )
    server = ServerProcess(tmp_path, env)
    base_url = f"http://127.0.0.1:{server.port}"
    try:
        # In a thread: this event loop relays the database proxy the server connects through meanwhile.
        await asyncio.to_thread(server.wait_up)
        async with ClientSession(connector=TCPConnector(force_close=True)) as http:
            username = f"sigterm{RUN_ID}{backend}{workers}"
            password = "correct horse battery"
            registration = {
                "name": "Sig",
                "username": username,
                "email": f"{username}@example.com",
                "password": password,
                "password_confirmation": password,
            }
            async with http.post(f"{base_url}/api/register", json=registration) as response:
                assert response.status == 201, await response.text()

            async def login() -> tuple[int, float]:
                credentials = {"login": username, "password": password}
                async with http.post(f"{base_url}/api/login", json=credentials) as response:
                    await response.read()
                    return response.status, time.monotonic()

            logins = [asyncio.create_task(login()) for _ in range(LOGINS_PER_WORKER * workers)]
            await asyncio.sleep(0.3)  # all of them reach the server; bcrypt keeps most of them busy
            server.process.send_signal(signal.SIGTERM)
            signalled_at = time.monotonic()
            refused = await refused_at(server.port)
            answers = await asyncio.gather(*logins)
        returncode = await asyncio.to_thread(server.process.wait, STOP_SECONDS + 5)
        stopped_at = time.monotonic()
    finally:
        await asyncio.to_thread(server.stop)  # after a failure: ends it, and any worker it left behind
    output = server.output()
    record_output(f"serve --workers {workers}", output)

    # Every in-flight login got its normal answer, some of them only after the signal, ...
    assert [status for status, _ in answers] == [200] * (LOGINS_PER_WORKER * workers), output[-3000:]
    last_answer = max(at for _, at in answers)
    assert last_answer > signalled_at
    # ... and the port refused new connections before the shutdown deadline; then the process exited
    # cleanly and promptly. (Not "before the last in-flight answer": with both cores busy with bcrypt, a
    # worker's listener was measured closing only as its in-flight work ended, 1 run in 3 to 6; see the
    # README's "When something fails". Its order against the answers is a scheduling race on 2 cores.)
    assert refused - signalled_at < STOP_SECONDS, (refused - signalled_at, last_answer - signalled_at)
    assert returncode == 0, output[-3000:]
    assert stopped_at - signalled_at < STOP_SECONDS
    assert [alarm for alarm in ALARMS if alarm in output] == [], output[-3000:]
    # Every database connection (the start-up migration check's, each worker's pool) said goodbye.
    assert database_proxy.links
    assert [
        (link.closed, link.client_tail)
        for link in database_proxy.links
        if not link.closed or not link.client_tail.endswith(GOODBYE[backend])
    ] == []


# Connections arriving in the instant of SIGTERM. Before sanctum_py/http/serving.py, 2 runs in 15 of this
# loop left a connection half accepted: never answered, never closed until the process exited (its
# client waited out its timeout), and a ResourceWarning on stderr.
HAMMER_RUNS = 6
HAMMER_THREADS = 8


def _hammer(port: int, stop: threading.Event, outcomes: list[str]) -> None:
    """Connect, ask for /up, read to the end; again and again until `stop`. Each try is answered (a
    whole HTTP response) or refused (refused, or reset or closed before a byte: nothing was processed)."""
    while not stop.is_set():
        with socket.socket() as client:
            client.settimeout(5)
            try:
                client.connect(("127.0.0.1", port))
                client.sendall(b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
            except (ConnectionRefusedError, ConnectionResetError):
                outcomes.append("refused")
                continue
            except OSError as error:  # a timeout: the connection was taken and then left hanging
                outcomes.append(type(error).__name__)
                continue
            outcomes.append("answered" if answer.startswith(b"HTTP/1.1 200 ") else "refused" if not answer else "cut")


def test_connections_arriving_at_sigterm_are_answered_or_refused_never_dropped(tmp_path: Path) -> None:
    env = server_environment(
        PYTHONWARNINGS="default",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        APP_KEY=TEST_APP_KEY,
        LOG_LEVEL="INFO",
    )
    migrated = run_cli(tmp_path, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    for run in range(HAMMER_RUNS):
        server = ServerProcess(tmp_path, env)
        stop = threading.Event()
        outcomes: list[str] = []
        threads = [threading.Thread(target=_hammer, args=(server.port, stop, outcomes)) for _ in range(HAMMER_THREADS)]
        try:
            server.wait_up()
            for thread in threads:
                thread.start()
            time.sleep(0.3)  # every thread is connecting, in flight or reading when the signal lands
            server.process.send_signal(signal.SIGTERM)
            returncode = server.process.wait(STOP_SECONDS + 5)
        finally:
            stop.set()
            for thread in threads:
                if thread.is_alive():
                    thread.join()
            server.stop()
        output = server.output()
        record_output("serve at SIGTERM under connects", output)
        counted = Counter(outcomes)
        assert returncode == 0, output[-3000:]
        assert [alarm for alarm in ALARMS if alarm in output] == [], (run, output[-3000:])
        assert set(counted) <= {"answered", "refused"}, (run, counted)
        assert counted["answered"] > 0, (run, counted)
