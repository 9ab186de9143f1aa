"""Accounts beyond Sanctum: roles, the active flag, last login, remember-me, and the login throttles."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, User
from sanctum_py.http.keys import SERVICES
from tests.support.api import JSON_HEADERS, bearer, login, register
from tests.support.contract import ContractClient
from tests.support.secret_scan import record_output

INVALID = {"message": "The given data was invalid.", "errors": {"login": ["Invalid credentials."]}}


async def make_admin(client: ContractClient) -> str:
    await register(client, username="boss", email="boss@example.com")
    await User.filter(username="boss").update(role="admin")
    return str((await login(client, "boss", "password123")).json()["access_token"])


async def test_registration_cannot_choose_a_role(client: ContractClient) -> None:
    await register(client, role="admin", is_active=False)
    user = await User.get(username="ahmetyilmaz")
    assert (user.role, user.is_active) == ("user", True)


async def test_admin_deactivates_and_reactivates(client: ContractClient) -> None:
    admin = await make_admin(client)
    token = (await register(client)).json()["access_token"]
    user_id = (await User.get(username="ahmetyilmaz")).id
    assert (await client.get("/api/me", headers=bearer(token))).status == 200

    off = await client.request("PATCH", f"/api/users/{user_id}", json={"is_active": False}, headers=bearer(admin))
    assert off.status == 200
    assert (off.json()["is_active"], off.json()["role"]) == (False, "user")
    assert (await client.get("/api/me", headers=bearer(token))).status == 401  # at once, cache or not
    refused = await login(client, "ahmetyilmaz", "password123")
    assert refused.json() == {
        "message": "The given data was invalid.",
        "errors": {"login": ["This account has been deactivated."]},
    }
    assert (await login(client, "ahmetyilmaz", "wrong-password")).json() == INVALID  # reveals nothing without it

    on = await client.request(
        "PATCH", f"/api/users/{user_id}", data={"is_active": "1", "role": "staff"}, headers=bearer(admin)
    )
    assert (on.json()["is_active"], on.json()["role"]) == (True, "staff")
    assert (await login(client, "ahmetyilmaz", "password123")).status == 200


async def test_only_admins_manage_accounts(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    denied = await client.request("PATCH", "/api/users/1", json={"role": "admin"}, headers=bearer(token))
    assert (denied.status, denied.body) == (403, b'{\n    "message": "This action is unauthorized."\n}')
    admin = await make_admin(client)
    bad = await client.request(
        "PATCH", "/api/users/1", json={"role": "root", "is_active": "yes"}, headers=bearer(admin)
    )
    assert bad.json()["errors"] == {
        "role": ["The selected role is invalid."],
        "is_active": ["The is active field must be true or false."],
    }
    missing = await client.request("PATCH", "/api/users/999999", json={"role": "user"}, headers=bearer(admin))
    assert (missing.status, missing.json()) == (
        404,
        {"message": "No query results for model [App\\Models\\User] 999999"},
    )


async def test_login_records_last_login_without_touching_updated_at(client: ContractClient) -> None:
    await register(client)
    before = await User.get(username="ahmetyilmaz")
    assert before.last_login_at is None
    await login(client, "ahmetyilmaz", "password123")
    after = await User.get(username="ahmetyilmaz")
    assert after.last_login_at is not None and after.updated_at == before.updated_at


async def test_remember_me_picks_the_longer_lifetime(make_client: object) -> None:
    client: ContractClient = await make_client(token_minutes=10, remember_me_minutes=600)  # type: ignore[operator]
    await register(client)
    lifetimes = []
    for extra in ({}, {"remember_me": True}, {"rememberMe": "1"}):
        body = {"login": "ahmetyilmaz", "password": "password123", **extra}
        token = (await client.post("/api/login", json=body, headers=JSON_HEADERS)).json()["access_token"]
        row = await PersonalAccessToken.get(id=int(token.split("|")[0]))
        assert row.expires_at is not None
        lifetimes.append(round((row.expires_at - utc_now()) / timedelta(minutes=1)))
    assert lifetimes == [10, 600, 600]


async def test_login_throttle_per_login_and_ip(make_client: object) -> None:
    client: ContractClient = await make_client(login_max_attempts=3)  # type: ignore[operator]
    await register(client)
    for _ in range(3):
        assert (await login(client, "AhmetYilmaz", "wrong")).json() == INVALID
    blocked = await login(client, "ahmetyilmaz", "password123")  # the right password, still refused
    assert blocked.status == 429
    assert blocked.body == b'{\n    "message": "Too Many Attempts."\n}'
    assert blocked.headers["X-RateLimit-Limit"] == "3"
    assert blocked.headers["X-RateLimit-Remaining"] == "0"
    assert 55 <= int(blocked.headers["Retry-After"]) <= 60
    # The same account by its email: the same key (the username/email alternation, on purpose).
    other = await login(client, "ahmet@example.com", "password123")
    assert other.status == 429


async def test_success_clears_the_login_throttle(make_client: object) -> None:
    client: ContractClient = await make_client(login_max_attempts=3)  # type: ignore[operator]
    await register(client)
    for _ in range(2):
        await login(client, "ahmetyilmaz", "wrong")
    assert (await login(client, "ahmetyilmaz", "password123")).status == 200
    for _ in range(2):
        assert (await login(client, "ahmetyilmaz", "wrong")).status == 422
    assert (await login(client, "ahmetyilmaz", "password123")).status == 200


async def test_account_throttle_counts_every_identifier(make_client: object) -> None:
    client: ContractClient = await make_client(login_max_attempts=100, login_max_failures_per_hour=4)  # type: ignore[operator]
    await register(client)
    for identifier in ("ahmetyilmaz", "ahmet@example.com", "AHMETYILMAZ", "Ahmet@Example.com"):
        assert (await login(client, identifier, "wrong")).status == 422
    assert (await login(client, "ahmetyilmaz", "password123")).status == 429


async def test_login_throttle_is_shared_through_redis(make_client: object) -> None:
    redis = {"redis_url": "redis://127.0.0.1:6379/0", "login_max_attempts": 2}
    first: ContractClient = await make_client(**redis)  # type: ignore[operator]
    second: ContractClient = await make_client(**redis, redis_prefix=first.app[SERVICES].settings.redis_prefix)  # type: ignore[operator]
    await register(first)
    await login(first, "ahmetyilmaz", "wrong")
    await login(second, "ahmetyilmaz", "wrong")
    assert (await login(first, "ahmetyilmaz", "password123")).status == 429


def test_create_user_cli_can_make_an_admin(tmp_path: Path, database_url: str) -> None:
    env_file = tmp_path / "test.env"
    # LOG_LEVEL=DEBUG: what the command logs joins the suite's secret scan (tests/support/secret_scan.py).
    env_file.write_text(f"DATABASE_URL={database_url}\nAPP_KEY=base64:{'A' * 43}=\nBCRYPT_ROUNDS=4\nLOG_LEVEL=DEBUG\n")
    command = [sys.executable, "-m", "sanctum_py", "--env-file", str(env_file), "create-user", "--name", "Root"]
    command += ["--username", "root_cli", "--email", "root_cli@example.com", "--role", "admin"]
    result = subprocess.run([*command, "--password", "password123"], capture_output=True, text=True, check=False)
    record_output("create-user", result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert "with role admin" in result.stdout
    again = subprocess.run([*command, "--password", "short"], capture_output=True, text=True, check=False)
    record_output("create-user", again.stdout + again.stderr)
    assert again.returncode == 1
    assert "The username has already been taken." in again.stderr
    assert "The password must be at least 8 characters." in again.stderr

    async def check() -> tuple[str, bool]:
        from sanctum_py.db.setup import close_database, init_database

        await init_database(database_url)
        try:
            user = await User.get(username="root_cli")
            role, active = user.role, user.is_active
            await User.filter(username="root_cli").delete()
            return role, active
        finally:
            await close_database()

    assert asyncio.run(check()) == ("admin", True)
