"""The command line, run as a user runs it: `python -m sanctum_py ...` in a fresh directory."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from sanctum_py.cli import EXIT_PENDING_MIGRATIONS, build_parser, main
from sanctum_py.core.pruning import prune_expired
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken
from tests.conftest import TEST_APP_KEY
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
    assert result.returncode == EXIT_PENDING_MIGRATIONS == 3
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


# --- prune-expired: progress on a terminal, silence in a pipe, --dry-run ---------------------------------


def run_in_terminal(cwd: Path, env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str]:
    """`python -m sanctum_py <args>` with a pseudo-terminal as stdin, stdout and stderr (as in a shell)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "sanctum_py", *args],
        cwd=cwd,
        env={**env, "TERM": "xterm-256color"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    output = b"".join(chunks).decode("utf-8", "replace")
    record_output(" ".join(args), output)
    return returncode, output


async def _token_rows(user_id: int, count: int, expired_hours_ago: float | None, label: str) -> None:
    now = utc_now()
    for index in range(count):
        await PersonalAccessToken.create(
            tokenable_type="App\\Models\\User",
            tokenable_id=user_id,
            name=f"{label}{index}",
            token=f"{label}{index}".ljust(64, "0"),
            abilities=json.dumps(["*"]),
            expires_at=None if expired_hours_ago is None else now - timedelta(hours=expired_hours_ago),
            created_at=now,
            updated_at=now,
        )


async def _count(**filters: object) -> int:
    return await PersonalAccessToken.filter(**filters).count()


async def test_prune_dry_run_deletes_nothing_and_progress_shows_only_on_a_terminal(
    client: ContractClient, tmp_path: Path, database_url: str
) -> None:
    """On every backend: --dry-run counts and keeps every row; a piped prune prints its summary and no
    progress; a prune on a terminal draws the bar (scanned, deleted, rate). Rows counted in the database."""
    token_id = int((await register(client)).json()["access_token"].split("|")[0])
    user_id = (await PersonalAccessToken.get(id=token_id)).tokenable_id
    await _token_rows(user_id, 7, 48, "recent")  # expired 2 days ago
    await _token_rows(user_id, 5, 24 * 10, "old")  # expired 10 days ago
    await _token_rows(user_id, 3, None, "live")
    total = await _count()
    assert total == 1 + 7 + 5 + 3
    env = {**ENV, "DATABASE_URL": database_url, "APP_KEY": TEST_APP_KEY, "LOG_LEVEL": "WARNING"}

    dry = run_cli_with(tmp_path, env, "prune-expired", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: 12 tokens expired for more than 24 hours would be pruned; nothing was deleted." in dry.stdout
    assert await _count() == total  # nothing deleted

    piped = run_cli_with(tmp_path, env, "prune-expired", "--hours", "100")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines() == [
        "Expiration value not specified in configuration file.",
        "Tokens expired for more than 100 hours pruned successfully (5 deleted).",
    ]
    assert piped.stderr == ""  # no bar, no escape codes, nothing logged at WARNING
    assert await _count(name__startswith="old") == 0
    assert await _count() == total - 5

    returncode, shown = run_in_terminal(tmp_path, env, "prune-expired")
    assert returncode == 0, shown
    assert "pruning" in shown
    assert "7/7 scanned" in shown and "7 deleted" in shown
    assert re.search(r"[\d,]+ rows/s", shown), shown
    assert "\x1b[" in shown  # drawn for a terminal
    assert "pruned successfully (7 deleted)." in shown
    assert await _count(name__startswith="recent") == 0
    assert await _count() == 1 + 3  # the registration's token and the live ones


def run_cli_with(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "sanctum_py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(" ".join(args), result.stdout + result.stderr)
    return result


# --- --help, exit codes, bad arguments and settings ----------------------------------------------------

COMMANDS = ["serve", "migrate", "key:generate", "prune-expired", "create-user"]


def _subcommands() -> list[str]:
    parser = build_parser()
    choices = next(action.choices for action in parser._actions if isinstance(action.choices, dict))
    return sorted(choices)


def test_every_command_is_covered_below() -> None:
    assert _subcommands() == sorted(COMMANDS)


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_help_describes_the_command_and_its_exit_codes(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "exit codes:" in shown
    assert "0  success" in shown and "1  failure" in shown and "2  usage error" in shown
    if command in ([], ["serve"]):
        assert "3  " in shown and "migrations" in shown
    if command == ["prune-expired"]:
        assert "--dry-run" in shown and "progress bar" in shown


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["prune-expired", "--hours", "-1"],
        ["prune-expired", "--hours", "soon"],
        ["prune-expired", "--dry-run=yes"],
        ["serve", "--port", "0"],
        ["serve", "--workers", "many"],
        ["create-user", "--name", "A"],  # --username and --email are required
        ["create-user", "--name", "A", "--username", "a", "--email", "a@example.com", "--role", "root"],
        ["key:generate", "--shout"],
    ],
)
def test_bad_arguments_exit_2_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_bad_arguments_exit_2_from_the_real_process(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "prune-expired", "--hours", "-5")
    assert result.returncode == 2
    assert "argument --hours: must be 0 or more" in result.stderr
    assert result.stdout == ""


def test_bad_settings_exit_2_without_echoing_the_value(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_KEY=base64:x\nMAIL_PORT=not-a-port-s3cr3t\nCORS_MAX_AGE=-1\n")
    result = run_cli(tmp_path, "migrate")
    assert result.returncode == 2, result.stderr
    assert "Invalid setting MAIL_PORT:" in result.stderr
    assert "Invalid setting CORS_MAX_AGE:" in result.stderr
    assert "not-a-port-s3cr3t" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"APP_KEY={TEST_APP_KEY}\nDATABASE_URL=postgres://postgres@127.0.0.1:{free_port()}/x\n"
    )
    for command in (["migrate"], ["prune-expired"], ["prune-expired", "--dry-run"]):
        result = run_cli(tmp_path, *command)
        assert result.returncode == 1, result.stderr
        assert "The database is unreachable (ConnectionRefusedError)." in result.stderr
        assert "Traceback" not in result.stderr
