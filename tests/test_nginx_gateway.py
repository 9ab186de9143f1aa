"""A real nginx (Debian's package) protects a sample upstream with `auth_request` against the live service.

nginx runs as a subprocess with its own configuration, pid file, logs and temp directories in a temporary
directory, on loopback ports, in the foreground (`daemon off;`): nothing under /etc or /var is used. The
service is `python -m sanctum_py serve` (tests/support/servers.py) on a fresh SQLite database, its token
cache on (one process). The upstream is a tiny aiohttp app that records every request nginx passes it,
with the user id nginx copied from the forward-auth answer (`auth_request_set` + `proxy_set_header`).

The configuration below is the one README's "nginx, Traefik and other services" section shows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import TEST_APP_KEY
from tests.support.servers import LiveServer, free_port, live_server

NGINX = Path("/usr/sbin/nginx")
START_SECONDS = 10.0
STOP_SECONDS = 10.0
USERNAME, PASSWORD = "gatewayuser", "password123"

# {root}, {listen}, {service}, {upstream} are filled in; nginx's own `$variables` are written `$name`.
NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log notice;
{user}
events {{ worker_connections 64; }}

http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

    server {{
        listen 127.0.0.1:{listen};

        location / {{
            auth_request /_auth;
            # The forward-auth answer's headers, copied onto the request sent upstream. proxy_set_header
            # replaces whatever the client sent under these names, so a client cannot claim to be someone.
            auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
            auth_request_set $auth_user_role $upstream_http_x_auth_user_role;
            auth_request_set $auth_abilities $upstream_http_x_auth_abilities;
            proxy_set_header X-User-Id $auth_user_id;
            proxy_set_header X-User-Role $auth_user_role;
            proxy_set_header X-User-Abilities $auth_abilities;
            proxy_pass http://127.0.0.1:{upstream};
        }}

        location = /_auth {{
            internal;
            proxy_pass http://127.0.0.1:{service}/auth/forward;
            proxy_pass_request_body off;           # the service never reads it
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
    }}
}}
"""


def ensure_nginx() -> None:
    """Install Debian's nginx if it is missing (once: afterwards the binary is there), or fail loudly."""
    if NGINX.exists():
        return
    if shutil.which("apt-get") is None:
        pytest.fail("nginx is not installed and apt-get is not available: install the Debian package nginx")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    if not NGINX.exists():
        pytest.fail(f"apt-get installed nginx but {NGINX} is missing")


@dataclass
class Upstream:
    """The protected application: it answers with what nginx told it about the user, and remembers each hit."""

    port: int
    hits: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        seen = {
            "method": request.method,
            "path": request.path,
            "user_id": request.headers.get("X-User-Id", ""),
            "role": request.headers.get("X-User-Role", ""),
            "abilities": request.headers.get("X-User-Abilities", ""),
        }
        self.hits.append(seen)
        return web.json_response(seen)


@contextlib.asynccontextmanager
async def upstream_app() -> AsyncIterator[Upstream]:
    upstream = Upstream(free_port())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", upstream.port).start()
    try:
        yield upstream
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def nginx(root: Path, service_port: int, upstream_port: int) -> Iterator[int]:
    """nginx in the foreground with its own configuration; stopped (SIGQUIT, then SIGKILL) and checked gone."""
    listen = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # as root, workers would become `nobody` and lose tmp
    config = root / "nginx.conf"
    config.write_text(
        NGINX_CONF.format(root=root, listen=listen, service=service_port, upstream=upstream_port, user=user)
    )
    checked = subprocess.run([str(NGINX), "-t", "-p", str(root), "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, f"nginx -t:\n{checked.stderr}"
    log = (root / "nginx.out").open("wb")
    process = subprocess.Popen(
        [str(NGINX), "-p", str(root), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _listening(listen):
            assert process.poll() is None, f"nginx exited {process.returncode}:\n{(root / 'error.log').read_text()}"
            assert time.monotonic() < deadline, f"nginx not listening after {START_SECONDS} s"
            time.sleep(0.05)
        yield listen
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish open requests, then exit
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_SECONDS)
        log.close()
        assert process.returncode is not None, "nginx did not exit"
        with contextlib.suppress(ProcessLookupError):  # its workers are in its group: none may be left
            os.killpg(process.pid, 0)
            pytest.fail("an nginx worker outlived its master")


def _logged(service: LiveServer, line: str, times: int) -> bool:
    """Whether the service's log holds `line` `times` times (within a second: it logs after answering)."""
    deadline = time.monotonic() + 1.0
    while service.serving.output().count(line) < times and time.monotonic() < deadline:
        time.sleep(0.02)
    return service.serving.output().count(line) == times


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveServer]:
    ensure_nginx()  # before the service starts: a failure here should not wait for it
    settings = {
        "DATABASE_URL": f"sqlite://{tmp_path / 'gateway.sqlite'}",
        "APP_KEY": TEST_APP_KEY,
        "BCRYPT_ROUNDS": "4",
        "MAIL_FILE_PATH": str(tmp_path / "mail"),
        "LOG_LEVEL": "INFO",
        "ACCESS_LOG": "true",  # to see the subrequests nginx makes
    }
    with live_server(tmp_path, settings) as running:
        yield running


async def test_nginx_auth_request_protects_an_upstream(service: LiveServer, tmp_path: Path) -> None:
    nginx_root = tmp_path / "nginx"
    nginx_root.mkdir()
    async with aiohttp.ClientSession() as http, upstream_app() as upstream:
        registered = await http.post(
            f"{service.base_url}/api/register",
            json={
                "name": "Gate",
                "username": USERNAME,
                "email": "gate@example.com",
                "password": PASSWORD,
                "password_confirmation": PASSWORD,
            },
            headers={"Accept": "application/json"},
        )
        assert registered.status == 201, await registered.text()
        body = await registered.json()
        token, user_id = body["access_token"], str(body["data"]["id"])
        with nginx(nginx_root, service.serving.port, upstream.port) as port:
            gateway = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {token}"}

            # A valid token passes, with the user nginx learnt from the service (not the one the client claims).
            passed = await http.get(f"{gateway}/orders/7", headers={**auth, "X-User-Id": "999"})
            assert passed.status == 200, await passed.text()
            assert await passed.json() == {
                "method": "GET",
                "path": "/orders/7",
                "user_id": user_id,
                "role": "user",
                "abilities": "*",
            }
            posted = await http.post(f"{gateway}/orders", headers=auth, data=b"{}")
            assert posted.status == 200 and (await posted.json())["user_id"] == user_id
            # Measured: nginx (1.22) sends its auth subrequest as GET whatever the client's method (the
            # service answers every method alike anyway; X-Original-Method carries the client's).
            assert _logged(service, '"GET /auth/forward" 200', 2)
            assert '"POST /auth/forward"' not in service.serving.output()

            # No token, or a bad one: 401 from nginx, and the upstream never sees the request.
            hits = len(upstream.hits)
            for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": f"Bearer {token}x"}):
                refused = await http.get(f"{gateway}/orders/7", headers=headers)
                assert refused.status == 401, headers
            assert len(upstream.hits) == hits

            # Logout: the very next request through nginx is refused (the service's cache is dropped with it).
            assert (await http.get(f"{gateway}/orders/7", headers=auth)).status == 200
            logout = await http.post(f"{service.base_url}/api/logout", headers={**auth, "Accept": "application/json"})
            assert logout.status == 200
            after = await http.get(f"{gateway}/orders/7", headers=auth)
            assert after.status == 401
            assert len(upstream.hits) == hits + 1
    assert "[emerg]" not in (nginx_root / "error.log").read_text()
    assert "Traceback" not in service.serving.output()
