"""The envelope's sign-in routes (seed 003): register, login, refresh (no rotation), logout, me.

Exact bodies (volatile values normalised, key order pinned), the rows behind them, tenants at login,
role escalation, and the refresh token that stays valid across renewals until logout.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from sanctum_py.core.refresh import RENEWALS_PER_WINDOW
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import RefreshToken, User
from tests.envelope.helpers import (
    BAD_CREDENTIALS,
    BAD_REFRESH,
    BASE,
    FORBIDDEN,
    INVALID_SESSION,
    OTHER_TENANT,
    PASSWORD,
    TENANT,
    TOK,
    bearer,
    expect,
    failed,
    field,
    login,
    make_admin,
    ok,
    post,
    register,
    registered,
    signed_in,
    user,
    user_row,
    user_time,
)
from tests.support.contract import ContractClient

ClientFactory = Any


async def test_register_answers_201_with_the_user_and_both_tokens(client: ContractClient) -> None:
    response = await register(client, firstName="Ayşe", lastName="Yılmaz")
    row = await user_row()
    body = expect(
        response,
        201,
        ok(
            "Kayıt başarıyla oluşturuldu",
            {"user": user(row["id"], first="Ayşe", last="Yılmaz", last_login=False), "token": TOK, "refreshToken": TOK},
        ),
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert row["tenant_id"] == TENANT and row["role"] == "user"
    assert body["data"]["user"]["createdAt"] == user_time(row["created_at"])
    me = await client.get(f"{BASE}/me", headers=bearer(body["data"]["token"]))
    expect(
        me,
        200,
        ok("Kullanıcı bilgileri getirildi", {"user": user(row["id"], first="Ayşe", last="Yılmaz", last_login=False)}),
    )


async def test_login_answers_the_seeds_envelope(client: ContractClient) -> None:
    await registered(client)
    response = await login(client, rememberMe=True)
    row = await user_row()
    body = expect(response, 200, ok("Giriş başarılı", {"user": user(row["id"]), "token": TOK, "refreshToken": TOK}))
    assert body["data"]["user"]["lastLogin"] == user_time(row["last_login_at"])
    [refresh] = await RefreshToken.filter(user_id=row["id"]).order_by("-id").limit(1)
    # rememberMe: the refresh token lives REMEMBER_ME_MINUTES (30 days by default), not 7 days.
    assert (refresh.expires_at - refresh.created_at).days >= 29


async def test_wrong_password_unknown_user_and_other_tenant_fail_alike(client: ContractClient) -> None:
    await registered(client)
    expected = failed("AUTHENTICATION_ERROR", BAD_CREDENTIALS, f"{BASE}/login")
    expect(await login(client, password="Yanlis12345"), 401, expected)
    expect(await login(client, username="nobody"), 401, expected)
    other = await post(client, "login", {"tenantId": OTHER_TENANT, "username": "ayse", "password": "Sifre12345!"})
    expect(other, 401, expected)
    # The same tenant spelt in capitals is the same tenant.
    upper = await post(client, "login", {"tenantId": TENANT.upper(), "username": "ayse", "password": "Sifre12345!"})
    assert upper.status == 200, upper.text


async def test_anonymous_registration_cannot_create_admin_or_staff(client: ContractClient) -> None:
    for role in ("admin", "staff"):
        response = await register(client, username=f"x{role}", email=f"{role}@example.com", role=role)
        expect(response, 403, failed("AUTHORIZATION_ERROR", FORBIDDEN, f"{BASE}/register"))
    admin = await make_admin(client)
    response = await register(client, headers=bearer(admin), username="staff1", email="s@example.com", role="staff")
    assert response.status == 201, response.text
    assert response.json()["data"]["user"]["role"] == "staff"
    plain = (await registered(client))["token"]
    response = await register(client, headers=bearer(plain), username="x", email="x@example.com", role="admin")
    expect(response, 403, failed("AUTHORIZATION_ERROR", FORBIDDEN, f"{BASE}/register"))


async def test_a_taken_username_or_email_is_a_conflict(client: ContractClient) -> None:
    await registered(client)
    response = await register(client, tenantId=OTHER_TENANT)
    expect(
        response,
        409,
        failed(
            "CONFLICT_ERROR",
            "Kullanıcı zaten kayıtlı",
            f"{BASE}/register",
            [
                field("username", "ALREADY_EXISTS", "username zaten kullanılıyor"),
                field("email", "ALREADY_EXISTS", "email zaten kullanılıyor"),
            ],
        ),
    )


async def test_refresh_twice_with_the_same_refresh_token(make_client: ClientFactory) -> None:
    client = await make_client(refresh_throttle_seconds=0)
    session = await registered(client)
    first = await post(client, "refresh", {"refreshToken": session["refreshToken"]})
    body = expect(first, 200, ok("Token yenilendi", {"token": TOK}))
    second = await post(client, "refresh", {"refreshToken": session["refreshToken"]})
    newest = expect(second, 200, ok("Token yenilendi", {"token": TOK}))["data"]["token"]
    assert len({session["token"], body["data"]["token"], newest}) == 3
    # Only the newest access token is alive: a session has one.
    for old in (session["token"], body["data"]["token"]):
        expect(
            await client.get(f"{BASE}/me", headers=bearer(old)),
            401,
            failed("AUTHENTICATION_ERROR", INVALID_SESSION, f"{BASE}/me"),
        )
    assert (await client.get(f"{BASE}/me", headers=bearer(newest))).status == 200
    # Logout with the newest ends the refresh token too.
    logout = await client.post(f"{BASE}/logout", headers=bearer(newest))
    assert logout.status == 204 and logout.body == b""
    again = await post(client, "refresh", {"refreshToken": session["refreshToken"]})
    expect(again, 401, failed("AUTHENTICATION_ERROR", BAD_REFRESH, f"{BASE}/refresh"))


async def test_the_refresh_throttle_still_applies(client: ContractClient) -> None:
    """Two refreshes in a row work with the default throttle (the seed's client never gets a new refresh
    token); a loop is stopped after RENEWALS_PER_WINDOW in REFRESH_THROTTLE_SECONDS."""
    session = await registered(client)
    for _ in range(RENEWALS_PER_WINDOW):
        assert (await post(client, "refresh", {"refreshToken": session["refreshToken"]})).status == 200
    response = await post(client, "refresh", {"refreshToken": session["refreshToken"]})
    assert response.status == 429, response.text
    body = response.json()
    assert list(body) == ["success", "type", "message", "timestamp", "path"]
    assert body["type"] == "RATE_LIMIT_ERROR" and body["path"] == f"{BASE}/refresh"
    assert 0 < int(response.headers["Retry-After"]) <= 30
    assert f"Lütfen {response.headers['Retry-After']} saniye" in body["message"]


async def test_a_rotated_token_is_not_renewable_and_rotation_keeps_reuse_detection(make_client: ClientFactory) -> None:
    client = await make_client(refresh_throttle_seconds=0, refresh_reuse_grace_seconds=0)
    session = await registered(client)
    rotated = await client.post("/api/v1/auth/refresh-token", json={"refresh_token": session["refreshToken"]})
    assert rotated.status == 200, rotated.text
    # The spent token presented again (here to the envelope) is reuse: the family dies.
    response = await post(client, "refresh", {"refreshToken": session["refreshToken"]})
    expect(response, 401, failed("AUTHENTICATION_ERROR", BAD_REFRESH, f"{BASE}/refresh"))
    child = await client.post("/api/v1/auth/refresh-token", json={"refresh_token": rotated.json()["refresh_token"]})
    assert child.status == 401


async def test_unknown_refresh_token_and_missing_field(client: ContractClient) -> None:
    expect(
        await post(client, "refresh", {"refreshToken": "1|nope"}),
        401,
        failed("AUTHENTICATION_ERROR", BAD_REFRESH, f"{BASE}/refresh"),
    )
    expect(
        await post(client, "refresh", {}),
        422,
        failed(
            "VALIDATION_ERROR",
            "Doğrulama hatası",
            f"{BASE}/refresh",
            [field("refreshToken", "REQUIRED", "refreshToken alanı zorunludur")],
        ),
    )


async def test_logout_needs_a_bearer_token(client: ContractClient) -> None:
    response = await client.post(f"{BASE}/logout")
    expect(response, 401, failed("AUTHENTICATION_ERROR", INVALID_SESSION, f"{BASE}/logout"))
    session = await signed_in_after_register(client)
    assert (await client.post(f"{BASE}/logout", headers=bearer(session["token"]))).status == 204
    expect(
        await client.get(f"{BASE}/me", headers=bearer(session["token"])),
        401,
        failed("AUTHENTICATION_ERROR", INVALID_SESSION, f"{BASE}/me"),
    )


async def signed_in_after_register(client: ContractClient) -> dict[str, Any]:
    await registered(client)
    return await signed_in(client)


async def test_login_without_tenant_still_works_for_other_clients(client: ContractClient) -> None:
    await registered(client, tenantId=...)
    assert (await user_row())["tenant_id"] is None
    response = await post(client, "login", {"username": "ayse", "password": "Sifre12345!"})
    assert response.status == 200, response.text
    # A user without a tenant is nobody's tenant member: naming one fails as a wrong password does.
    expect(await login(client), 401, failed("AUTHENTICATION_ERROR", BAD_CREDENTIALS, f"{BASE}/login"))


async def test_concurrent_refreshes_leave_one_live_access_token(make_client: ClientFactory) -> None:
    client = await make_client(refresh_throttle_seconds=0)
    session = await registered(client)
    responses = await asyncio.gather(
        *(post(client, "refresh", {"refreshToken": session["refreshToken"]}) for _ in range(5))
    )
    statuses = sorted(response.status for response in responses)
    assert set(statuses) <= {200, 429} and statuses[0] == 200, statuses
    tokens = [response.json()["data"]["token"] for response in responses if response.status == 200]
    alive = [token for token in tokens if (await client.get(f"{BASE}/me", headers=bearer(token))).status == 200]
    [row] = await RefreshToken.filter(user_id=int(session["user"]["id"]))
    assert len(alive) == 1 and int(alive[0].split("|")[0]) == row.access_token_id
    # The refresh token survived the race.
    assert (await post(client, "refresh", {"refreshToken": session["refreshToken"]})).status == 200


async def test_a_wrong_tenant_takes_a_wrong_passwords_time(make_client: ClientFactory) -> None:
    # Real bcrypt cost, so that a skipped check would show: both failures must run it.
    client = await make_client(bcrypt_rounds=10, login_max_attempts=1000)
    await registered(client)
    timings: dict[str, list[float]] = {"password": [], "tenant": []}
    for attempt in range(6):
        for kind in ("password", "tenant") if attempt % 2 else ("tenant", "password"):
            tenant, password = (OTHER_TENANT, PASSWORD) if kind == "tenant" else (TENANT, "Yanlis12345")
            started = time.perf_counter()
            response = await post(client, "login", {"tenantId": tenant, "username": "ayse", "password": password})
            timings[kind].append(time.perf_counter() - started)
            assert response.status == 401
    wrong_password, wrong_tenant = statistics.median(timings["password"]), statistics.median(timings["tenant"])
    assert abs(wrong_password - wrong_tenant) / max(wrong_password, wrong_tenant) < 0.5, timings


async def test_a_two_factor_account_cannot_sign_in_here(client: ContractClient) -> None:
    # Seed 003 has no second step: after the right password, a 2FA account is refused (README).
    await registered(client)
    await User.filter(username="ayse").update(two_factor_secret="encrypted-secret", two_factor_confirmed_at=utc_now())
    message = "Bu hesap için iki adımlı doğrulama gerekiyor"
    expect(await login(client), 401, failed("AUTHENTICATION_ERROR", message, f"{BASE}/login"))
    expect(
        await login(client, password="Yanlis12345"),
        401,
        failed("AUTHENTICATION_ERROR", BAD_CREDENTIALS, f"{BASE}/login"),
    )


async def test_an_inactive_account_is_refused_after_the_right_password(client: ContractClient) -> None:
    await registered(client)
    await User.filter(username="ayse").update(is_active=False)
    expect(await login(client), 403, failed("AUTHORIZATION_ERROR", "Hesabınız devre dışı bırakılmış", f"{BASE}/login"))
    expect(
        await login(client, password="Yanlis12345"),
        401,
        failed("AUTHENTICATION_ERROR", BAD_CREDENTIALS, f"{BASE}/login"),
    )
