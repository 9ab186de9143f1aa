"""The command line, run as a user runs it: `python -m sanctum_py ...` in a fresh directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from sanctum_py.core.pruning import prune_expired
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken
from tests.support.api import register
from tests.support.contract import ContractClient
from tests.support.secret_scan import record_output
from tests.support.servers import free_port

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "APP_", "REDIS_", "WORKERS"))}
ENV["LOG_LEVEL"] = "DEBUG"  # what the commands log joins the suite's secret scan (tests/support/secret_scan.py)


def run_cli(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "sanctum_py", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    record_output(" ".join(args), result.stdout + result.stderr)
    return result


def test_key_generate_writes_a_laravel_key(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_KEY=old\nLOG_LEVEL=INFO\n")
    result = run_cli(tmp_path, "key:generate")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / ".env").read_text().splitlines()
    assert "LOG_LEVEL=INFO" in lines
    keys = [line for line in lines if line.startswith("APP_KEY=")]
    assert len(keys) == 1 and keys[0].startswith("APP_KEY=base64:") and len(keys[0]) == len("APP_KEY=base64:") + 44


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--port", str(free_port()))
    assert result.returncode == 1
    assert "run `python -m sanctum_py migrate` first" in result.stderr
    assert "0_20261123120000_laravel_tables.py" in result.stderr


def test_fresh_directory_migrates_and_serves(tmp_path: Path) -> None:
    """A fresh clone: no .env, no database. migrate creates both; serve answers on the port."""
    migrated = run_cli(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "Migrated:" in migrated.stdout
    assert "APP_KEY was not set" in migrated.stderr
    assert (tmp_path / "database" / "sanctum.sqlite").exists()
    assert (tmp_path / ".env").read_text().startswith("APP_KEY=base64:")
    assert run_cli(tmp_path, "migrate").stdout.strip() == "Nothing to migrate."

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sanctum_py", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = _post_until_up(f"http://127.0.0.1:{port}/api/login", b'{"login":"x","password":"y"}')
        assert body == b'{"message":"The given data was invalid.","errors":{"login":["Invalid credentials."]}}'
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    record_output("serve", output)
    assert server.returncode == 0, output
    assert "APP_KEY was not set" not in output  # generated once, then read from .env


def _post_until_up(url: str, data: bytes, deadline: float = 20) -> bytes:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            return error.read()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() - start > deadline:
                raise
            time.sleep(0.2)


async def test_prune_expired_deletes_what_sanctum_deletes(client: ContractClient) -> None:
    token_id = int((await register(client)).json()["access_token"].split("|")[0])
    user_id = (await PersonalAccessToken.get(id=token_id)).tokenable_id
    now = utc_now()
    rows = {
        "expired_long_ago": {"expires_at": now - timedelta(hours=30)},
        "expired_recently": {"expires_at": now - timedelta(hours=1)},
        "created_long_ago": {"created_at": now - timedelta(hours=30)},
        "fresh": {},
    }
    ids = {}
    for name, fields in rows.items():
        row = await PersonalAccessToken.create(
            tokenable_type="App\\Models\\User",
            tokenable_id=user_id,
            name=name,
            token=name.ljust(64, "0"),
            abilities=json.dumps(["*"]),
            **{"created_at": now, "updated_at": now, **fields},
        )
        ids[name] = row.id

    assert await prune_expired(24, None, batch_size=1) == 1
    assert not await PersonalAccessToken.filter(id=ids["expired_long_ago"]).exists()
    assert await PersonalAccessToken.filter(id=ids["created_long_ago"]).exists()

    # With a global expiration of 60 minutes, rows created more than 60 min + 24 h ago go too.
    assert await prune_expired(24, 60) == 1
    remaining = set(await PersonalAccessToken.all().values_list("name", flat=True))
    assert remaining == {"auth_token", "expired_recently", "fresh"}
