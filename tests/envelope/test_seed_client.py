"""Seed 003's own client code (tests/envelope/seed003/client.ts: the fetch and axios snippets verbatim but
for the base URL) run by Node 20 against a live server: register, login, refresh twice with the same
refresh token, me, logout, and that refresh token refused afterwards.

axios (and TypeScript, to strip the snippets' types without editing them) are installed with npm into a
temporary directory at test time. If npm cannot install them the test fails loudly: skipping would let
the one check that runs the seed's real client pass without running it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import TEST_APP_KEY
from tests.support.servers import live_server

NODE = "/usr/bin/node"
SEED_CLIENT = Path(__file__).parent / "seed003"
NPM_SECONDS = 300
PACKAGES = ("axios@1", "typescript@5")


@pytest.fixture(scope="module")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if not Path(NODE).exists() or npm is None:
        pytest.fail(f"Node 20 and npm are required for the seed 003 client test ({NODE}, npm: {npm})")
    directory = tmp_path_factory.mktemp("seed003-client")
    (directory / "package.json").write_text('{"name": "seed003-client", "private": true, "type": "module"}\n')
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=NPM_SECONDS,
        check=False,
    )
    if installed.returncode != 0:
        pytest.fail(f"npm could not install {', '.join(PACKAGES)}:\n{installed.stdout}\n{installed.stderr}")
    for name in ("client.ts", "run.mjs"):
        shutil.copy(SEED_CLIENT / name, directory / name)
    return directory


def test_the_seeds_fetch_and_axios_snippets_work_unchanged(
    node_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("seed003-server")
    settings = {
        "APP_KEY": TEST_APP_KEY,
        "BCRYPT_ROUNDS": "4",
        "DATABASE_URL": f"sqlite://{directory / 'seed003.sqlite'}",
        "MAIL_DRIVER": "file",
        "MAIL_FILE_PATH": str(directory / "mail"),
        "LOG_LEVEL": "WARNING",
    }
    with live_server(directory, settings) as server:
        environment = {"PATH": "/usr/bin:/bin", "SANCTUM_URL": server.base_url, "TENANT_ID": str(uuid.uuid4())}
        ran = subprocess.run(
            [NODE, "run.mjs"],
            cwd=node_project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert lines[-1] == {
        "done": ["register", "login", "refresh1", "refresh2", "me", "logout", "refreshAfterLogout", "wrongPassword"]
    }
    steps = {line["step"]: line["value"] for line in lines[:-1]}
    assert list(steps["login"]) == ["success", "message", "data", "pagination", "timestamp"]
    assert list(steps["login"]["data"]) == ["user", "token", "refreshToken"]
    assert list(steps["wrongPassword"]) == ["success", "type", "message", "timestamp", "path"]
