"""A database written by a real Laravel 8 + Sanctum 2 app keeps working here, and the reverse.

`../shared/compat/laravel8-sanctum2/vectors.json` lists every user's plaintext password, every token's
plaintext and what the real app answered for it (`live_check`). The tests run the service on a copy of
that SQLite file after our migration, and compare status and exact body bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sanctum_py.app import create_app
from sanctum_py.db.migrate import migrate
from sanctum_py.settings import Settings
from tests.support.api import bearer, login
from tests.support.contract import ContractClient

COMPAT_DIR = Path(__file__).resolve().parents[2] / "shared" / "compat" / "laravel8-sanctum2"
VECTORS = json.loads((COMPAT_DIR / "vectors.json").read_text(encoding="utf-8"))
LIVE_USERS = [user for user in VECTORS["users"] if not user["deleted"]]


@pytest.fixture
def laravel_db(tmp_path: Path) -> Path:
    copy = tmp_path / "laravel.sqlite"
    shutil.copy(COMPAT_DIR / VECTORS["sqlite_file"], copy)
    copy.chmod(0o644)
    asyncio.run(migrate(f"sqlite://{copy}"))
    return copy


@pytest.fixture
def compat_client(
    laravel_db: Path, aiohttp_client: Callable[[web.Application], Awaitable[TestClient]]
) -> Callable[..., Awaitable[ContractClient]]:
    async def factory(**overrides: Any) -> ContractClient:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite://{laravel_db}",
            app_key=VECTORS["app_key"].strip(),
            **overrides,
        )
        return ContractClient(await aiohttp_client(create_app(settings)))

    return factory


def test_migration_keeps_every_row(laravel_db: Path) -> None:
    """Every row and column Laravel wrote is still there, unchanged; what we add is nullable or defaulted."""
    original = sqlite3.connect(COMPAT_DIR / VECTORS["sqlite_file"])
    migrated = sqlite3.connect(laravel_db)
    for table in ("users", "personal_access_tokens", "password_resets", "migrations"):
        columns = ", ".join(f'"{row[1]}"' for row in original.execute(f"PRAGMA table_info({table})"))
        query = f"SELECT {columns} FROM {table} ORDER BY 1"
        assert migrated.execute(query).fetchall() == original.execute(query).fetchall(), table
    token_columns = [row[1] for row in migrated.execute("PRAGMA table_info(personal_access_tokens)")]
    assert "expires_at" in token_columns
    added = migrated.execute("SELECT role, is_active, last_login_at, two_factor_secret FROM users").fetchall()
    assert set(added) == {("user", 1, None, None)}


@pytest.mark.parametrize("token", VECTORS["tokens"], ids=lambda t: f"{t['token_id']}-{t['expected']}")
async def test_laravel_tokens_answer_as_laravel_did(compat_client: Any, token: dict[str, Any]) -> None:
    client = await compat_client()
    response = await client.get("/api/me", headers=bearer(token["plaintext"]))
    assert response.status == token["live_check"]["status"]
    assert response.text == token["live_check"]["body"]


@pytest.mark.parametrize("token", VECTORS["extra_tokens"], ids=lambda t: t["form"])
async def test_laravel_token_forms(compat_client: Any, token: dict[str, Any]) -> None:
    client = await compat_client()
    response = await client.get("/api/me", headers=bearer(token["plaintext"]))
    assert response.status == token["live_check"]["status"]
    if response.status == 200:
        assert response.json()["id"] == token["user_id"]


@pytest.mark.parametrize("expiration", [60, 60 * 24 * 365 * 100])
async def test_sanctum_expiration_counts_from_created_at(compat_client: Any, laravel_db: Path, expiration: int) -> None:
    """With sanctum.expiration set, a token is valid for that many minutes after its created_at."""
    client = await compat_client(sanctum_expiration=expiration)
    created = dict(sqlite3.connect(laravel_db).execute("SELECT id, created_at FROM personal_access_tokens"))
    now = datetime.now(UTC)
    for token in VECTORS["tokens"]:
        response = await client.get("/api/me", headers=bearer(token["plaintext"]))
        if token["expected"] != "valid":
            assert response.status == 401
            continue
        created_at = datetime.fromisoformat(created[token["token_id"]]).replace(tzinfo=UTC)
        fresh = created_at + timedelta(minutes=expiration) > now
        assert response.status == (200 if fresh else 401), token["token_id"]
        if token.get("backdated_created_at") and expiration == 60:
            assert response.status == 401  # the vector's own expectation: back-dated to 2020


def _password_checks(case_insensitive: bool) -> list[tuple[str, str, str, bool]]:
    cases = []
    for user in LIVE_USERS:
        for check in user["live_login_checks"]:
            login_value = check.get("login", user["email"])
            expected = check["login_ok"]
            if "login" in check and case_insensitive:
                expected = True  # deliberate: identifiers ignore case (README, "Where we differ")
            cases.append(
                (f"{user['key']}: {check['what']}", login_value, check.get("password", user["password"]), expected)
            )
    return cases


@pytest.mark.parametrize("case_insensitive", [False, True], ids=["laravel-exact", "default"])
async def test_laravel_passwords_log_in(compat_client: Any, case_insensitive: bool) -> None:
    client = await compat_client(case_insensitive_identifiers=case_insensitive, api_rate_limit=1000)
    for what, login_value, password, expected in _password_checks(case_insensitive):
        response = await login(client, login_value, password)
        assert (response.status == 200) == expected, what
        if not expected:
            assert response.json() == {
                "message": "The given data was invalid.",
                "errors": {"login": ["Invalid credentials."]},
            }


async def test_login_by_username_and_email_for_every_laravel_user(compat_client: Any) -> None:
    client = await compat_client(api_rate_limit=1000)
    for user in LIVE_USERS:
        for login_value in (user["email"], user["username"]):
            response = await login(client, login_value, user["password"])
            assert response.status == 200, (user["key"], login_value)
            assert response.json()["data"]["id"] == user["id"]


async def test_token_minted_here_passes_sanctums_check(compat_client: Any, laravel_db: Path) -> None:
    client = await compat_client()
    user = LIVE_USERS[0]
    token = (await login(client, user["username"], user["password"])).json()["access_token"]
    token_id, secret = token.split("|", 1)
    row = (
        sqlite3.connect(laravel_db)
        .execute(
            "SELECT token, tokenable_type, tokenable_id, abilities FROM personal_access_tokens WHERE id = ?",
            (token_id,),
        )
        .fetchone()
    )
    # What Sanctum's PersonalAccessToken::findToken does: find($id), then hash_equals(sha256(secret)).
    assert row == (hashlib.sha256(secret.encode()).hexdigest(), "App\\Models\\User", user["id"], '["*"]')
    me = await client.get("/api/me", headers=bearer(token))
    assert me.status == 200
