"""Accounts beyond Sanctum: roles, the active flag, last login, remember-me, and the login throttles."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.two_factor import code_at, timestep
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, User
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import ClientFactory
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


async def test_deactivation_ends_every_session_for_good(make_client: ClientFactory) -> None:
    """Deactivate then reactivate: the access tokens, refresh tokens and 2FA challenges issued before
    stay dead (they used to come back with the account)."""
    client = await make_client(refresh_tokens=True)
    admin = await make_admin(client)
    await register(client)
    user = await User.get(username="ahmetyilmaz")
    session = (await login(client, "ahmetyilmaz", "password123")).json()
    two_factor = client.app[SERVICES].two_factor
    now = timestep(time.time()) * 30 + 15.0  # the middle of a step: the code below stays valid
    two_factor.clock = lambda: now
    await two_factor.enable(user.id)
    await User.filter(id=user.id).update(two_factor_confirmed_at=utc_now())
    challenge = (await login(client, "ahmetyilmaz", "password123")).json()["challenge_token"]

    for active in (False, True):
        patched = await client.request(
            "PATCH", f"/api/users/{user.id}", json={"is_active": active}, headers=bearer(admin)
        )
        assert patched.status == 200, patched.text

    assert (await client.get("/api/me", headers=bearer(session["access_token"]))).status == 401
    refreshed = await client.post(
        "/api/refresh", json={"refresh_token": session["refresh_token"]}, headers=JSON_HEADERS
    )
    assert refreshed.status == 401
    code = code_at(await two_factor.secret_key(user.id) or "", timestep(now))
    completed = await client.post(
        "/api/two-factor-challenge", json={"challenge_token": challenge, "code": code}, headers=JSON_HEADERS
    )
    assert completed.status == 422
    assert await PersonalAccessToken.filter(tokenable_id=user.id).count() == 0
    # The account itself works again: a new login gets a new session.
    assert (await login(client, "ahmetyilmaz", "password123")).json().get("two_factor") is True


LAST_ADMIN = {
    "role": ["The role cannot be changed while this user is the last active admin."],
    "is_active": ["The is active field cannot be false while this user is the last active admin."],
}


async def test_the_last_active_admin_cannot_demote_or_deactivate_itself(client: ContractClient) -> None:
    admin = await make_admin(client)
    boss = await User.get(username="boss")
    for body, fields in (
        ({"role": "staff"}, ["role"]),
        ({"is_active": False}, ["is_active"]),
        ({"role": "user", "is_active": "0"}, ["role", "is_active"]),
    ):
        refused = await client.request("PATCH", f"/api/users/{boss.id}", json=body, headers=bearer(admin))
        assert (refused.status, refused.json()) == (
            422,
            {"message": "The given data was invalid.", "errors": {field: LAST_ADMIN[field] for field in fields}},
        )
    after = await User.get(id=boss.id)
    assert (after.role, after.is_active, after.updated_at) == ("admin", True, boss.updated_at)
    # Changes that keep it an active admin, and changes to anyone else, go through.
    kept = await client.request("PATCH", f"/api/users/{boss.id}", json={"role": "admin"}, headers=bearer(admin))
    assert kept.status == 200
    await register(client)
    other = await User.get(username="ahmetyilmaz")
    assert (
        await client.request("PATCH", f"/api/users/{other.id}", json={"role": "admin"}, headers=bearer(admin))
    ).status == 200
    # With a second active admin, the first may step down; then the second is the last one.
    assert (
        await client.request("PATCH", f"/api/users/{boss.id}", json={"role": "user"}, headers=bearer(admin))
    ).status == 200
    second = str((await login(client, "ahmetyilmaz", "password123")).json()["access_token"])
    last = await client.request("PATCH", f"/api/users/{other.id}", json={"is_active": False}, headers=bearer(second))
    assert (last.status, last.json()["errors"]) == (422, {"is_active": LAST_ADMIN["is_active"]})


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(client: ContractClient) -> None:
    """Each request alone is allowed (another admin remains); together they must not both succeed.
    The loser gets 422, or 401/403 when the winner's change reached its token first."""
    await make_admin(client)
    await register(client)
    names = ("boss", "ahmetyilmaz")
    ids = [(await User.get(username=name)).id for name in names]
    for round_number in range(6):
        await User.filter(id__in=ids).update(role="admin", is_active=True)
        tokens = [str((await login(client, name, "password123")).json()["access_token"]) for name in names]
        change = {"role": "user"} if round_number % 2 else {"is_active": False}
        answers = await asyncio.gather(
            client.request("PATCH", f"/api/users/{ids[1]}", json=change, headers=bearer(tokens[0])),
            client.request("PATCH", f"/api/users/{ids[0]}", json=change, headers=bearer(tokens[1])),
        )
        statuses = sorted(answer.status for answer in answers)
        assert statuses[0] == 200 and statuses[1] in (401, 403, 422), [a.text for a in answers]
        assert await User.filter(id__in=ids, role="admin", is_active=True).count() == 1


async def test_concurrent_demotions_in_the_service_leave_one_admin(client: ContractClient) -> None:
    """The same race without the HTTP layer in between, so both changes surely overlap: the lock decides."""
    accounts = client.app[SERVICES].accounts
    for number in range(4):
        await register(client, username=f"admin{number}", email=f"admin{number}@example.com")
    await User.all().update(role="admin", is_active=True)
    ids = list(await User.all().values_list("id", flat=True))
    for round_number in range(5):
        await User.all().update(role="admin", is_active=True)
        demote = {"role": "staff", "is_active": None} if round_number % 2 else {"role": None, "is_active": False}
        outcomes = await asyncio.gather(
            *(accounts.update_account(user_id, **demote) for user_id in ids), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, AuthError) and o.code is ErrorCode.LAST_ACTIVE_ADMIN]
        assert len(refused) == 1, outcomes
        assert await User.filter(role="admin", is_active=True).count() == 1


def test_create_user_cli_refuses_a_password_over_72_bytes(tmp_path: Path, database_url: str) -> None:
    env_file = tmp_path / "test.env"
    env_file.write_text(f"DATABASE_URL={database_url}\nAPP_KEY=base64:{'A' * 43}=\nBCRYPT_ROUNDS=4\nLOG_LEVEL=DEBUG\n")
    command = [sys.executable, "-m", "sanctum_py", "--env-file", str(env_file), "create-user", "--name", "Long"]
    command += ["--username", "long_cli", "--email", "long_cli@example.com", "--password", "ş" * 37]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    record_output("create-user", result.stdout + result.stderr)
    assert result.returncode == 1
    assert "The password must not be greater than 72 bytes." in result.stderr
    assert "Created user" not in result.stdout


def test_create_user_cli_keeps_one_login_namespace(tmp_path: Path, database_url: str) -> None:
    env_file = tmp_path / "test.env"
    env_file.write_text(f"DATABASE_URL={database_url}\nAPP_KEY=base64:{'A' * 43}=\nBCRYPT_ROUNDS=4\nLOG_LEVEL=DEBUG\n")
    command = [sys.executable, "-m", "sanctum_py", "--env-file", str(env_file), "create-user", "--name", "N"]
    command += ["--password", "password123"]
    results = [
        subprocess.run([*command, *identifiers], capture_output=True, text=True, check=False)
        for identifiers in (
            ["--username", "first_cli", "--email", "first_cli@example.com"],
            ["--username", "First_CLI@example.com", "--email", "second_cli@example.com"],
            ["--username", "second_cli", "--email", "FIRST_cli@example.com"],
        )
    ]
    for result in results:
        record_output("create-user", result.stdout + result.stderr)
    assert [result.returncode for result in results] == [0, 1, 1], results[0].stderr
    assert "The username has already been taken." in results[1].stderr
    assert "The email has already been taken." in results[2].stderr

    async def cleanup() -> int:
        from sanctum_py.db.setup import close_database, init_database

        await init_database(database_url)
        try:
            return await User.filter(username__in=["first_cli", "First_CLI@example.com", "second_cli"]).delete()
        finally:
            await close_database()

    assert asyncio.run(cleanup()) == 1
