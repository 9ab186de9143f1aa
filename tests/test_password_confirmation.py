"""Sensitive routes: their abilities, Fortify's password confirmation (per token), and the 2FA takeover.

The attack this guards against: a token with `abilities: []` (or any token nobody re-authenticated)
could force a new two-factor secret, read it and the recovery codes, or turn 2FA off. Now each 2FA
management route needs the `two-factor` ability and a password confirmed by the presenting token within
PASSWORD_TIMEOUT (Fortify's `confirmPassword` option and Laravel's RequirePassword middleware), and a
forced re-enable leaves 2FA unconfirmed until a code for the new secret confirms it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sanctum_py.core.two_factor import code_at, timestep
from sanctum_py.db.models import User
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS, bearer, login, register
from tests.support.contract import ContractClient, WireResponse

ENABLE = "/api/user/two-factor-authentication"
CONFIRM_2FA = "/api/user/confirmed-two-factor-authentication"
QR = "/api/user/two-factor-qr-code"
SECRET = "/api/user/two-factor-secret-key"
CODES = "/api/user/two-factor-recovery-codes"
CONFIRM_PASSWORD = "/api/user/confirm-password"
STATUS = "/api/user/confirmed-password-status"
TWO_FACTOR_ROUTES = (
    ("POST", ENABLE),
    ("POST", CONFIRM_2FA),
    ("DELETE", ENABLE),
    ("GET", QR),
    ("GET", SECRET),
    ("GET", CODES),
    ("POST", CODES),
)
INVALID_ABILITY = b'{\n    "message": "Invalid ability provided."\n}'
CONFIRMATION_REQUIRED = b'{"message":"Password confirmation required."}'
WRONG_PASSWORD = (
    b'{"message":"The given data was invalid.","errors":{"password":["The provided password was incorrect."]}}'
)
PASSWORD = "password123"


async def start(make_client: ClientFactory, **overrides: Any) -> tuple[ContractClient, str]:
    """A client whose TOTP clock sits mid-step, and the `*` token of a freshly registered user."""
    client = await make_client(api_rate_limit=1000, **overrides)
    now = timestep(time.time()) * 30 + 15.0
    client.app[SERVICES].two_factor.clock = lambda: now
    return client, str((await register(client)).json()["access_token"])


async def sign_in(client: ContractClient, **extra: Any) -> str:
    body = {"login": "ahmetyilmaz", "password": PASSWORD, **extra}
    response = await client.post("/api/login", json=body, headers=JSON_HEADERS)
    assert response.status == 200, response.text
    return str(response.json()["access_token"])


async def confirm_password(client: ContractClient, token: str, password: Any = PASSWORD) -> WireResponse:
    return await client.post(CONFIRM_PASSWORD, json={"password": password}, headers=bearer(token))


async def status(client: ContractClient, token: str, query: str = "") -> Any:
    response = await client.get(STATUS + query, headers=bearer(token))
    assert response.status == 200, response.text
    return response.json()


async def call(client: ContractClient, token: str, method: str, path: str, **kwargs: Any) -> WireResponse:
    return await client.request(method, path, headers=bearer(token), **kwargs)


def current_code(client: ContractClient, secret: str) -> str:
    return code_at(secret, timestep(client.app[SERVICES].two_factor.clock()))


async def enable_and_confirm(client: ContractClient, token: str) -> str:
    """Turn 2FA on for the token's user (the token's password already confirmed); the secret."""
    assert (await call(client, token, "POST", ENABLE)).status == 200
    secret = str((await call(client, token, "GET", SECRET)).json()["secretKey"])
    confirmed = await call(client, token, "POST", CONFIRM_2FA, json={"code": current_code(client, secret)})
    assert (confirmed.status, confirmed.body) == (200, b'""'), confirmed.text
    return secret


async def asks_for_a_code(client: ContractClient) -> bool:
    body = (await login(client, "ahmetyilmaz", PASSWORD)).json()
    assert ("two_factor" in body) != ("access_token" in body), body
    return "two_factor" in body


# --- abilities ----------------------------------------------------------------------------------------


async def test_two_factor_routes_need_the_two_factor_ability(make_client: ClientFactory) -> None:
    client, _ = await start(make_client)
    for abilities in ([], ["tokens:read", "tokens:delete", "admin"]):
        token = await sign_in(client, abilities=abilities)
        assert (await confirm_password(client, token)).status == 201  # confirming unlocks nothing it lacks
        for method, path in TWO_FACTOR_ROUTES:
            response = await call(client, token, method, path, json={"force": True, "code": "123456"})
            assert (response.status, response.body) == (403, INVALID_ABILITY), (abilities, method, path)
            assert "X-RateLimit-Remaining" in response.headers  # route middleware runs after the throttle
    user = await User.get(username="ahmetyilmaz")
    assert (user.two_factor_secret, user.two_factor_recovery_codes) == (None, None)
    granted = await sign_in(client, abilities=["two-factor"])
    assert (await confirm_password(client, granted)).status == 201
    assert (await call(client, granted, "POST", ENABLE)).status == 200


async def test_the_admin_route_needs_the_admin_ability(make_client: ClientFactory) -> None:
    client, _ = await start(make_client)
    await register(client, username="boss", email="boss@example.com")
    await User.filter(username="boss").update(role="admin")
    victim = (await User.get(username="ahmetyilmaz")).id
    for abilities, expected in (([], 403), (["tokens:read", "two-factor"], 403), (["admin"], 200), (["*"], 200)):
        body = {"login": "boss", "password": PASSWORD, "abilities": abilities}
        token = (await client.post("/api/login", json=body, headers=JSON_HEADERS)).json()["access_token"]
        response = await call(client, token, "PATCH", f"/api/users/{victim}", json={"role": "staff"})
        assert response.status == expected, (abilities, response.text)
        if expected == 403:
            assert response.body == INVALID_ABILITY
    # The ability never stands in for the role: a plain user's `admin` token is still refused.
    own = await sign_in(client, abilities=["admin"])
    refused = await call(client, own, "PATCH", f"/api/users/{victim}", json={"role": "admin"})
    assert (refused.status, refused.json()) == (403, {"message": "This action is unauthorized."})


# --- password confirmation ----------------------------------------------------------------------------


async def test_two_factor_routes_want_a_confirmed_password(make_client: ClientFactory) -> None:
    client, token = await start(make_client)
    for method, path in TWO_FACTOR_ROUTES:
        response = await call(client, token, method, path, json={"force": True})
        assert (response.status, response.body) == (423, CONFIRMATION_REQUIRED), (method, path)
        assert response.headers["Content-Type"] == "application/json"
        assert "X-RateLimit-Remaining" in response.headers
    assert (await User.get(username="ahmetyilmaz")).two_factor_secret is None
    assert await status(client, token) == {"confirmed": False}

    confirmed = await confirm_password(client, token)
    assert (confirmed.status, confirmed.body) == (201, b'""')
    assert "X-RateLimit-Remaining" in confirmed.headers
    assert await status(client, token) == {"confirmed": True}
    await enable_and_confirm(client, token)
    for method, path in TWO_FACTOR_ROUTES[3:]:
        assert (await call(client, token, method, path)).status == 200, path
    assert (await call(client, token, "DELETE", ENABLE)).status == 200


async def test_a_wrong_password_is_refused_and_confirms_nothing(make_client: ClientFactory) -> None:
    client, token = await start(make_client)
    for password in ("password124", "PASSWORD123", "", None, 123, ["password123"], {"a": PASSWORD}, " password123"):
        response = await confirm_password(client, token, password)
        assert (response.status, response.body) == (422, WRONG_PASSWORD), password
    form = await client.post(CONFIRM_PASSWORD, data={"password": "nope"}, headers=bearer(token))
    assert (form.status, form.body) == (422, WRONG_PASSWORD)
    missing = await client.post(CONFIRM_PASSWORD, headers=bearer(token))
    assert (missing.status, missing.body) == (422, WRONG_PASSWORD)
    assert await status(client, token) == {"confirmed": False}
    assert (await call(client, token, "GET", SECRET)).status == 423
    form_ok = await client.post(CONFIRM_PASSWORD, data={"password": PASSWORD}, headers=bearer(token))
    assert (form_ok.status, form_ok.body) == (201, b'""')


async def test_wrong_passwords_spend_the_accounts_failure_budget(make_client: ClientFactory) -> None:
    """Like a wrong 2FA code: a confirmation is one more way to test a password, so it shares the budget."""
    client, token = await start(make_client, login_max_failures_per_hour=3)
    for _ in range(3):
        assert (await confirm_password(client, token, "wrong-password")).status == 422
    throttled = await confirm_password(client, token)
    assert throttled.status == 429
    assert throttled.body == b'{\n    "message": "Too Many Attempts."\n}'
    assert throttled.headers["X-RateLimit-Limit"] == "3" and int(throttled.headers["Retry-After"]) > 3500
    assert (await login(client, "ahmetyilmaz", PASSWORD)).status == 429
    assert await status(client, token) == {"confirmed": False}


async def test_the_confirmation_belongs_to_the_token(make_client: ClientFactory) -> None:
    client, first = await start(make_client)
    second = await sign_in(client)
    assert (await confirm_password(client, first)).status == 201
    assert await status(client, first) == {"confirmed": True}
    assert await status(client, second) == {"confirmed": False}
    assert (await call(client, first, "GET", CODES)).status == 200
    assert (await call(client, second, "GET", CODES)).body == CONFIRMATION_REQUIRED
    # A new token (a new login) starts unconfirmed, like a new Laravel session.
    third = await sign_in(client)
    assert (await call(client, third, "POST", ENABLE)).status == 423


async def test_the_confirmation_expires(make_client: ClientFactory) -> None:
    # Stored at second precision, as Laravel's time(): right after confirming, up to 1 s may already
    # count as elapsed (a second boundary between the two requests), so the timeout is 2 s; after 3.1 s at
    # least 3 s count, always past it.
    client, token = await start(make_client, password_timeout=2)
    assert (await confirm_password(client, token)).status == 201
    assert (await call(client, token, "GET", QR)).status == 200
    assert await status(client, token) == {"confirmed": True}
    await asyncio.sleep(3.1)
    assert (await call(client, token, "GET", QR)).body == CONFIRMATION_REQUIRED
    assert await status(client, token) == {"confirmed": False}
    assert (await confirm_password(client, token)).status == 201
    assert (await call(client, token, "GET", QR)).status == 200


async def test_status_takes_fortifys_seconds(make_client: ClientFactory) -> None:
    client, token = await start(make_client)
    assert await status(client, token, "?seconds=999999999999") == {"confirmed": True}  # never confirmed: since 1970
    assert await status(client, token, "?seconds=100") == {"confirmed": False}
    assert (await confirm_password(client, token)).status == 201
    assert await status(client, token, "?seconds=100") == {"confirmed": True}
    assert await status(client, token, "?seconds=-1") == {"confirmed": False}
    assert await status(client, token, "?seconds=") == {"confirmed": False}  # null: PHP's `0 < null` is false
    head = await client.request("HEAD", STATUS, headers=bearer(token))
    assert (head.status, head.body) == (200, b"")


async def test_new_routes_need_a_token(client: ContractClient) -> None:
    for method, path in (("POST", CONFIRM_PASSWORD), ("GET", STATUS)):
        response = await client.request(method, path, headers=bearer("1|not-a-token"))
        assert (response.status, response.json()) == (401, {"message": "Unauthenticated."}), path


# --- forced re-enable -------------------------------------------------------------------------------


async def test_a_forced_re_enable_is_unconfirmed_until_a_new_code(make_client: ClientFactory) -> None:
    client, token = await start(make_client)
    assert (await confirm_password(client, token)).status == 201
    old_secret = await enable_and_confirm(client, token)
    assert await asks_for_a_code(client)
    pending = (await login(client, "ahmetyilmaz", PASSWORD)).json()["challenge_token"]

    forced = await call(client, token, "POST", ENABLE, json={"force": True})
    assert (forced.status, forced.body) == (200, b'""')
    user = await User.get(username="ahmetyilmaz")
    assert user.two_factor_secret is not None and user.two_factor_confirmed_at is None
    assert not await asks_for_a_code(client)  # the owner is never left behind a secret they do not have
    new_secret = str((await call(client, token, "GET", SECRET)).json()["secretKey"])
    assert new_secret != old_secret
    # While unconfirmed, a challenge issued before the re-enable completes with neither secret's code.
    step = timestep(client.app[SERVICES].two_factor.clock())
    for secret in (old_secret, new_secret):
        late = await client.post(
            "/api/two-factor-challenge", json={"challenge_token": pending, "code": code_at(secret, step + 1)}
        )
        assert late.status == 422, late.text
    stale = await call(client, token, "POST", CONFIRM_2FA, json={"code": current_code(client, old_secret)})
    assert stale.status == 422
    fresh = await call(client, token, "POST", CONFIRM_2FA, json={"code": current_code(client, new_secret)})
    assert (fresh.status, fresh.body) == (200, b'""')
    assert await asks_for_a_code(client)


# --- the attack, end to end ------------------------------------------------------------------------------


async def test_the_two_factor_takeover_is_refused(make_client: ClientFactory) -> None:
    client, owner = await start(make_client)
    leaked = await sign_in(client, abilities=[])  # a device token without abilities, later stolen
    unconfirmed = await sign_in(client)  # a full token nobody re-authenticated (a forgotten session)
    assert (await confirm_password(client, owner)).status == 201
    await enable_and_confirm(client, owner)
    before = await User.get(username="ahmetyilmaz")

    # The ability-less token: force a new secret, read secret, QR and codes, regenerate, disable: all 403,
    # and confirming the password (it may know it) does not change that.
    for confirmed in (False, True):
        for method, path in TWO_FACTOR_ROUTES:
            response = await call(client, leaked, method, path, json={"force": True, "code": "000000"})
            assert (response.status, response.body) == (403, INVALID_ABILITY), (confirmed, method, path)
        if not confirmed:
            assert (await confirm_password(client, leaked)).status == 201

    # The `*` token without a confirmed password: 423 everywhere, until it confirms.
    for method, path in TWO_FACTOR_ROUTES:
        response = await call(client, unconfirmed, method, path, json={"force": True, "code": "000000"})
        assert (response.status, response.body) == (423, CONFIRMATION_REQUIRED), (method, path)
    wrong = await confirm_password(client, unconfirmed, "a-guess")
    assert (wrong.status, wrong.body) == (422, WRONG_PASSWORD)
    assert (await call(client, unconfirmed, "GET", SECRET)).status == 423

    after = await User.get(id=before.id)
    columns = ("two_factor_secret", "two_factor_recovery_codes", "two_factor_confirmed_at")
    assert [getattr(after, c) for c in columns] == [getattr(before, c) for c in columns]
    assert await asks_for_a_code(client)
