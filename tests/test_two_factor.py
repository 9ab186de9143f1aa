"""Two-factor authentication: Fortify's routes and columns, the stateless login challenge, single use under races.

TOTP checks run against a frozen clock (`TwoFactorAuth.clock`) in the middle of a 30-second step, so codes
for step-1, step and step+1 are all inside the window whenever the test runs. The Fortify-written database
in ../shared/compat is used as is (a copy), with its own APP_KEY, and real time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import shutil
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sanctum_py.app import create_app
from sanctum_py.core.two_factor import code_at, otpauth_url, qr_code_svg, timestep
from sanctum_py.db.fields import utc_now
from sanctum_py.db.migrate import migrate
from sanctum_py.db.models import PersonalAccessToken, TwoFactorChallenge, User
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.settings import Settings
from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS, bearer, login, register
from tests.support.contract import ContractClient, WireResponse

COMPAT_DIR = Path(__file__).resolve().parents[2] / "shared" / "compat" / "laravel8-sanctum2"
VECTORS = json.loads((COMPAT_DIR / "vectors.json").read_text(encoding="utf-8"))
FORTIFY = VECTORS["fortify_2fa"]

INVALID_CODE = {
    "message": "The given data was invalid.",
    "errors": {"code": ["The provided two factor authentication code was invalid."]},
}
INVALID_RECOVERY = {
    "message": "The given data was invalid.",
    "errors": {"recovery_code": ["The provided two factor recovery code was invalid."]},
}
RECOVERY_CODE = re.compile(r"[A-Za-z0-9]{10}-[A-Za-z0-9]{10}")
CHALLENGE_TOKEN = re.compile(r"[0-9]+\|[A-Za-z0-9]{40}")
ENABLE = "/api/user/two-factor-authentication"
CONFIRM = "/api/user/confirmed-two-factor-authentication"
QR = "/api/user/two-factor-qr-code"
SECRET = "/api/user/two-factor-secret-key"
CODES = "/api/user/two-factor-recovery-codes"
CHALLENGE = "/api/two-factor-challenge"
CONFIRM_PASSWORD = "/api/user/confirm-password"
RACERS = 20  # concurrent presentations of one single-use secret in the race tests


# --- helpers -------------------------------------------------------------------------------------------


class Account:
    """A registered user with a token, driving the 2FA routes; codes are computed for the frozen clock."""

    def __init__(self, client: ContractClient, token: str, now: float) -> None:
        self.client = client
        self.token = token
        self.step = timestep(now)
        self.secret = ""

    def code(self, offset: int = 0) -> str:
        return code_at(self.secret, self.step + offset)

    async def post(self, path: str, **kwargs: Any) -> WireResponse:
        return await self.client.post(path, headers=bearer(self.token), **kwargs)

    async def get(self, path: str) -> WireResponse:
        return await self.client.get(path, headers=bearer(self.token))

    async def enable(self, *, confirm_offset: int | None = -1) -> None:
        """Enable, read the secret, and (unless None) confirm with the code of step + confirm_offset."""
        response = await self.post(ENABLE)
        assert (response.status, response.body) == (200, b'""')
        self.secret = (await self.get(SECRET)).json()["secretKey"]
        if confirm_offset is not None:
            confirmed = await self.post(CONFIRM, json={"code": self.code(confirm_offset)})
            assert (confirmed.status, confirmed.body) == (200, b'""'), confirmed.text

    async def recovery_codes(self) -> list[str]:
        response = await self.get(CODES)
        assert response.status == 200
        codes: list[str] = response.json()
        return codes

    async def challenge(self, **extra: Any) -> str:
        body = {"login": "ahmetyilmaz", "password": "password123", **extra}
        response = await self.client.post("/api/login", json=body, headers=JSON_HEADERS)
        assert response.status == 200, response.text
        payload = response.json()
        assert list(payload) == ["two_factor", "challenge_token"] and payload["two_factor"] is True
        assert CHALLENGE_TOKEN.fullmatch(payload["challenge_token"])
        assert response.headers["Cache-Control"] == "no-store"
        return str(payload["challenge_token"])


async def complete(client: ContractClient, challenge_token: Any, **fields: Any) -> WireResponse:
    return await client.post(CHALLENGE, json={"challenge_token": challenge_token, **fields}, headers=JSON_HEADERS)


def mid_step_now() -> float:
    """Now, moved to the middle of its 30-second step."""
    return timestep(time.time()) * 30 + 15.0


async def start(make_client: ClientFactory, **overrides: Any) -> Account:
    client = await make_client(**overrides)
    now = mid_step_now()
    client.app[SERVICES].two_factor.clock = lambda: now
    token = (await register(client)).json()["access_token"]
    await confirm_password(client, token, "password123")  # the 2FA routes want it (Fortify's confirmPassword)
    return Account(client, token, now)


async def confirm_password(client: ContractClient, token: str, password: str) -> None:
    response = await client.post(CONFIRM_PASSWORD, json={"password": password}, headers=bearer(token))
    assert (response.status, response.body) == (201, b'""'), response.text


@pytest.fixture
async def account(make_client: ClientFactory) -> Account:
    return await start(make_client, api_rate_limit=1000)


@pytest.fixture
async def enabled(account: Account) -> Account:
    await account.enable()
    return account


# --- setup routes --------------------------------------------------------------------------------------


async def test_enable_stores_fortify_columns_and_confirm_turns_on_the_challenge(account: Account) -> None:
    await account.enable(confirm_offset=None)
    user = await User.get(username="ahmetyilmaz")
    assert user.two_factor_secret and user.two_factor_recovery_codes and user.two_factor_confirmed_at is None
    assert re.fullmatch(r"[A-Z2-7]{16}", account.secret)
    codes = await account.recovery_codes()
    assert len(codes) == 8 and all(RECOVERY_CODE.fullmatch(code) for code in codes)
    encrypter = account.client.app[SERVICES].encrypter
    assert encrypter.decrypt(user.two_factor_secret) == account.secret
    assert json.loads(encrypter.decrypt(user.two_factor_recovery_codes)) == codes

    # Enabled but not confirmed: logins still answer a token (Fortify's `confirm` option).
    assert "access_token" in (await login(account.client, "ahmetyilmaz", "password123")).json()

    wrong = await account.post(CONFIRM, json={"code": account.code(+5)})
    assert (wrong.status, wrong.json()) == (422, INVALID_CODE)
    assert wrong.body == (
        b'{"message":"The given data was invalid.","errors":{"code":'
        b'["The provided two factor authentication code was invalid."]}}'
    )
    ok = await account.post(CONFIRM, json={"code": account.code(0)})
    assert (ok.status, ok.body) == (200, b'""')
    assert (await User.get(id=user.id)).two_factor_confirmed_at is not None
    await account.challenge()


async def test_enable_again_keeps_the_secret_unless_forced(enabled: Account) -> None:
    before = await User.get(username="ahmetyilmaz")
    assert (await enabled.post(ENABLE)).status == 200
    assert (await enabled.post(ENABLE, json={"force": False})).status == 200
    after = await User.get(id=before.id)
    assert (after.two_factor_secret, after.two_factor_recovery_codes) == (
        before.two_factor_secret,
        before.two_factor_recovery_codes,
    )
    forced = await enabled.post(ENABLE, json={"force": "yes"})
    assert (forced.status, forced.body) == (200, b'""')
    assert (await enabled.get(SECRET)).json()["secretKey"] != enabled.secret


async def test_concurrent_first_enables_agree_on_one_secret(account: Account) -> None:
    responses = await asyncio.gather(*(account.post(ENABLE) for _ in range(8)))
    assert {r.status for r in responses} == {200}
    secrets = {(await account.get(SECRET)).json()["secretKey"] for _ in range(3)}
    assert len(secrets) == 1


async def test_confirm_refuses_anything_but_a_current_code(account: Account) -> None:
    not_enabled = await account.post(CONFIRM, json={"code": "123456"})
    assert (not_enabled.status, not_enabled.json()) == (422, INVALID_CODE)
    await account.enable(confirm_offset=None)
    for body in (
        {},
        {"code": None},
        {"code": ""},
        {"code": 123456},
        {"code": [account.code()]},
        {"code": {"a": 1}},
        {"code": account.code() + "0"},
        {"code": "12345\u0000"},
        {"code": account.code(-2)},
        {"code": account.code(+2)},
    ):
        response = await account.post(CONFIRM, json=body)
        assert (response.status, response.json()) == (422, INVALID_CODE), body
    form = await account.client.post(
        CONFIRM, data={"code": account.code()}, headers={"Authorization": f"Bearer {account.token}"}
    )
    assert (form.status, form.body) == (200, b'""')
    replay = await account.post(CONFIRM, json={"code": account.code()})
    assert (replay.status, replay.json()) == (422, INVALID_CODE)


async def test_qr_code_is_the_otpauth_url_as_svg(enabled: Account) -> None:
    response = await enabled.get(QR)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert list(body) == ["svg", "url"]
    expected_url = otpauth_url("sanctum_py", "ahmet@example.com", enabled.secret)
    assert body["url"] == expected_url
    assert body["url"].startswith("otpauth://totp/sanctum_py:ahmet%40example.com?secret=")
    assert body["svg"] == qr_code_svg(expected_url)
    assert b'"url":"otpauth:\\/\\/totp\\/sanctum_py:ahmet%40example.com?secret=' in response.body  # PHP escapes /
    svg = ET.fromstring(body["svg"])  # noqa: S314 - our own output
    assert (svg.tag, svg.get("width"), svg.get("height")) == ("{http://www.w3.org/2000/svg}svg", "192", "192")
    head = await enabled.client.request("HEAD", QR, headers=bearer(enabled.token))
    assert (head.status, head.body) == (200, b"")


async def test_qr_code_uses_app_name(make_client: ClientFactory) -> None:
    account = await start(make_client, app_name="Acme Corp")
    await account.enable()
    url = (await account.get(QR)).json()["url"]
    assert url.startswith("otpauth://totp/Acme%20Corp:ahmet%40example.com?secret=")
    assert url.endswith("&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30")


async def test_routes_before_enabling(account: Account) -> None:
    qr = await account.get(QR)
    assert (qr.status, qr.body) == (200, b"[]")
    codes = await account.get(CODES)
    assert (codes.status, codes.body) == (200, b"[]")
    secret = await account.get(SECRET)
    assert (secret.status, secret.body) == (
        404,
        b'{\n    "message": "Two factor authentication has not been enabled."\n}',
    )
    assert "X-RateLimit-Remaining" in secret.headers
    regenerate = await account.post(CODES)
    assert (regenerate.status, regenerate.body) == (200, b'""')
    assert (await User.get(username="ahmetyilmaz")).two_factor_recovery_codes is None
    disable = await account.client.delete(ENABLE, headers=bearer(account.token))
    assert (disable.status, disable.body) == (200, b'""')


async def test_every_route_needs_a_token(client: ContractClient) -> None:
    for method, path in (
        ("POST", ENABLE),
        ("DELETE", ENABLE),
        ("POST", CONFIRM),
        ("GET", QR),
        ("GET", SECRET),
        ("GET", CODES),
        ("POST", CODES),
    ):
        response = await client.request(method, path, headers=bearer("1|not-a-token"))
        assert (response.status, response.json()) == (401, {"message": "Unauthenticated."}), path
    assert (await client.get(CHALLENGE)).status == 405


async def test_disable_clears_every_column_and_logins_stop_asking(enabled: Account) -> None:
    challenge = await enabled.challenge()
    response = await enabled.client.delete(ENABLE, headers=bearer(enabled.token))
    assert (response.status, response.body) == (200, b'""')
    user = await User.get(username="ahmetyilmaz")
    columns = (
        user.two_factor_secret,
        user.two_factor_recovery_codes,
        user.two_factor_confirmed_at,
        user.two_factor_last_timestep,
    )
    assert columns == (None, None, None, None)
    assert (await enabled.get(SECRET)).status == 404
    assert (await enabled.get(QR)).body == b"[]"
    assert (await enabled.get(CODES)).body == b"[]"
    assert "access_token" in (await login(enabled.client, "ahmetyilmaz", "password123")).json()
    # A challenge issued before the user turned 2FA off cannot be completed any more.
    stale = await complete(enabled.client, challenge, code=enabled.code(+1))
    assert (stale.status, stale.json()) == (422, INVALID_CODE)


async def test_regenerate_replaces_all_recovery_codes(enabled: Account) -> None:
    old = await enabled.recovery_codes()
    response = await enabled.post(CODES)
    assert (response.status, response.body) == (200, b'""')
    new = await enabled.recovery_codes()
    assert len(new) == 8 and not set(old) & set(new)
    challenge = await enabled.challenge()
    stale = await complete(enabled.client, challenge, recovery_code=old[0])
    assert (stale.status, stale.json()) == (422, INVALID_RECOVERY)
    fresh = await complete(enabled.client, challenge, recovery_code=new[0])
    assert fresh.status == 200


# --- the login challenge ----------------------------------------------------------------------------------


async def test_challenge_completes_the_login(enabled: Account) -> None:
    challenge = await enabled.challenge(device_name="Ahmet's phone", abilities=["tokens:read"], remember_me=True)
    assert await PersonalAccessToken.all().count() == 1  # only the registration's: no token yet
    response = await complete(enabled.client, challenge, code=enabled.code(0))
    assert response.status == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert list(body) == ["data", "access_token", "token_type"]
    assert body["token_type"] == "Bearer"
    assert list(body["data"]) == [
        "id",
        "name",
        "surname",
        "username",
        "email",
        "email_verified_at",
        "created_at",
        "updated_at",
    ]
    me = await enabled.client.get("/api/me", headers=bearer(body["access_token"]))
    assert (me.status, me.json()) == (200, body["data"])
    row = await PersonalAccessToken.get(id=int(body["access_token"].split("|")[0]))
    assert (row.name, json.loads(row.abilities or "")) == ("Ahmet's phone", ["tokens:read"])
    user = await User.get(username="ahmetyilmaz")
    assert user.last_login_at is not None
    # Stored hashed, spent once.
    stored = await TwoFactorChallenge.get(id=int(challenge.split("|")[0]))
    assert stored.token == hashlib.sha256(challenge.split("|")[1].encode()).hexdigest()
    assert stored.used_at is not None
    again = await complete(enabled.client, challenge, code=enabled.code(+1))
    assert (again.status, again.json()) == (422, INVALID_CODE)


async def test_challenge_answers_the_refresh_pair_when_refresh_tokens_are_on(make_client: ClientFactory) -> None:
    account = await start(make_client, refresh_tokens=True)
    await account.enable()
    response = await complete(account.client, await account.challenge(), code=account.code(0))
    assert response.status == 200, response.text
    assert list(response.json()) == ["data", "access_token", "token_type", "refresh_token", "expires_in"]


async def test_a_totp_code_is_accepted_once(enabled: Account) -> None:
    first = await complete(enabled.client, await enabled.challenge(), code=enabled.code(0))
    assert first.status == 200
    replay = await complete(enabled.client, await enabled.challenge(), code=enabled.code(0))
    assert (replay.status, replay.json()) == (422, INVALID_CODE)
    older = await complete(enabled.client, await enabled.challenge(), code=enabled.code(-1))
    assert (older.status, older.json()) == (422, INVALID_CODE)  # google2fa's verifyKeyNewer
    newer = await complete(enabled.client, await enabled.challenge(), code=enabled.code(+1))
    assert newer.status == 200


@pytest.mark.parametrize("window", [1, 2])
async def test_window_either_side_of_now(make_client: ClientFactory, window: int) -> None:
    account = await start(make_client, two_factor_window=window)
    await account.enable(confirm_offset=None)
    challenge_user = await User.get(username="ahmetyilmaz")
    await User.filter(id=challenge_user.id).update(two_factor_confirmed_at=utc_now())
    for outside in (-window - 1, window + 1):
        response = await complete(account.client, await account.challenge(), code=account.code(outside))
        assert (response.status, response.json()) == (422, INVALID_CODE), outside
    for inside in (-window, window):  # in increasing order: an older step than the last is refused
        response = await complete(account.client, await account.challenge(), code=account.code(inside))
        assert response.status == 200, inside


async def test_the_fifth_wrong_code_kills_the_challenge(enabled: Account) -> None:
    challenge = await enabled.challenge()
    for _ in range(5):
        wrong = await complete(enabled.client, challenge, code=enabled.code(+7))
        assert (wrong.status, wrong.json()) == (422, INVALID_CODE)
    assert (await TwoFactorChallenge.get(id=int(challenge.split("|")[0]))).attempts == 5
    dead = await complete(enabled.client, challenge, code=enabled.code(0))
    assert (dead.status, dead.json()) == (422, INVALID_CODE)
    # The code was never looked at, so it still signs in through a new challenge.
    assert (await complete(enabled.client, await enabled.challenge(), code=enabled.code(0))).status == 200


async def test_a_right_code_on_the_last_attempt_still_counts(make_client: ClientFactory) -> None:
    account = await start(make_client, two_factor_challenge_attempts=2)
    await account.enable()
    challenge = await account.challenge()
    assert (await complete(account.client, challenge, code="000000")).status == 422
    assert (await complete(account.client, challenge, code=account.code(0))).status == 200


async def test_wrong_codes_spend_the_accounts_hourly_failure_budget(make_client: ClientFactory) -> None:
    """New challenges are one password away, so guesses count per account, on every challenge and address."""
    account = await start(make_client, login_max_failures_per_hour=3)
    await account.enable()
    other, guessed = await account.challenge(), await account.challenge()
    for _ in range(3):
        wrong = await complete(account.client, guessed, code="000000")
        assert (wrong.status, wrong.json()) == (422, INVALID_CODE)
    for challenge_token in (guessed, other):
        blocked = await complete(account.client, challenge_token, code=account.code(0))
        assert (blocked.status, blocked.json()) == (429, {"message": "Too Many Attempts."})
        assert blocked.headers["X-RateLimit-Limit"] == "3"
        assert 3500 <= int(blocked.headers["Retry-After"]) <= 3600
    assert (await TwoFactorChallenge.get(id=int(other.split("|")[0]))).attempts == 0  # refused before counting
    assert (await login(account.client, "ahmetyilmaz", "password123")).status == 429  # no new challenges either


async def test_an_expired_challenge_fails(enabled: Account) -> None:
    challenge = await enabled.challenge()
    row = await TwoFactorChallenge.get(id=int(challenge.split("|")[0]))
    assert timedelta(seconds=295) <= row.expires_at - row.created_at <= timedelta(seconds=305)
    await TwoFactorChallenge.filter(id=row.id).update(expires_at=utc_now() - timedelta(seconds=1))
    expired = await complete(enabled.client, challenge, code=enabled.code(0))
    assert (expired.status, expired.json()) == (422, INVALID_CODE)
    expired_recovery = await complete(enabled.client, challenge, recovery_code=(await enabled.recovery_codes())[0])
    assert (expired_recovery.status, expired_recovery.json()) == (422, INVALID_RECOVERY)
    assert len(set(await enabled.recovery_codes())) == 8


async def test_forged_and_malformed_challenge_tokens_fail_like_a_wrong_code(enabled: Account) -> None:
    challenge = await enabled.challenge()
    challenge_id, secret = challenge.split("|")
    for forged in (
        f"{challenge_id}|{secret[:-1]}x" if not secret.endswith("x") else f"{challenge_id}|{secret[:-1]}y",
        f"{int(challenge_id) + 1}|{secret}",
        secret,
        "0|" + secret,
        "abc|def",
        f"{challenge_id}|",
        "99999999999999999999999|" + secret,
        "|",
        "  ",
    ):
        response = await complete(enabled.client, forged, code=enabled.code(0))
        if forged.strip():
            assert (response.status, response.json()) == (422, INVALID_CODE), forged
        else:
            assert response.status == 422
    # None of them spent the code or the challenge.
    assert (await complete(enabled.client, challenge, code=enabled.code(0))).status == 200


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"challenge_token": ["The challenge token field is required."]}),
        ({"challenge_token": None, "code": "123456"}, {"challenge_token": ["The challenge token field is required."]}),
        ({"challenge_token": 12}, {"challenge_token": ["The challenge token must be a string."]}),
        ({"challenge_token": ["1|x"]}, {"challenge_token": ["The challenge token must be a string."]}),
        ({"challenge_token": "1|x", "code": 123456}, {"code": ["The code must be a string."]}),
        ({"challenge_token": "1|x", "code": ["123456"]}, {"code": ["The code must be a string."]}),
        (
            {"challenge_token": "1|x", "recovery_code": {"a": "b"}},
            {"recovery_code": ["The recovery code must be a string."]},
        ),
        ({"challenge_token": "1|x", "code": "12\u00003456"}, {"code": ["The code contains invalid characters."]}),
        (
            {"challenge_token": "1|a\u0000b", "code": "123456"},
            {"challenge_token": ["The challenge token contains invalid characters."]},
        ),
        (
            {"challenge_token": True, "code": False, "recovery_code": 1.5},
            {
                "challenge_token": ["The challenge token must be a string."],
                "code": ["The code must be a string."],
                "recovery_code": ["The recovery code must be a string."],
            },
        ),
    ],
)
async def test_challenge_validation(client: ContractClient, body: dict[str, Any], errors: dict[str, list[str]]) -> None:
    response = await client.post(CHALLENGE, json=body, headers=JSON_HEADERS)
    assert (response.status, response.json()) == (422, {"message": "The given data was invalid.", "errors": errors})


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'"x"', b'{"challenge_token": "1|x", "code": null, "recovery_code": null}', b"{" * 600],
)
async def test_challenge_odd_bodies_are_422(client: ContractClient, raw: bytes) -> None:
    response = await client.post(CHALLENGE, data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 422


async def test_challenge_without_any_code_fails(enabled: Account) -> None:
    challenge = await enabled.challenge()
    for fields in ({}, {"code": None, "recovery_code": None}, {"code": "", "recovery_code": ""}):
        response = await complete(enabled.client, challenge, **fields)
        assert (response.status, response.json()) == (422, INVALID_CODE)


async def test_form_encoded_challenge(enabled: Account) -> None:
    challenge = await enabled.challenge()
    response = await enabled.client.post(CHALLENGE, data={"challenge_token": challenge, "code": enabled.code(0)})
    assert response.status == 200


# --- recovery codes ---------------------------------------------------------------------------------------


async def test_a_recovery_code_signs_in_once_and_is_replaced(enabled: Account) -> None:
    codes = await enabled.recovery_codes()
    response = await complete(enabled.client, await enabled.challenge(), recovery_code=codes[3])
    assert response.status == 200
    after = await enabled.recovery_codes()
    assert len(after) == 8 and codes[3] not in after
    assert [c for i, c in enumerate(after) if i != 3] == [c for i, c in enumerate(codes) if i != 3]  # order kept
    assert RECOVERY_CODE.fullmatch(after[3])
    reuse = await complete(enabled.client, await enabled.challenge(), recovery_code=codes[3])
    assert (reuse.status, reuse.json()) == (422, INVALID_RECOVERY)
    assert (await complete(enabled.client, await enabled.challenge(), recovery_code=after[3])).status == 200


async def test_a_wrong_recovery_code_falls_back_to_the_code(enabled: Account) -> None:
    """Fortify tries the recovery code first, then the TOTP code; a failure is keyed by what was sent."""
    challenge = await enabled.challenge()
    both_wrong = await complete(enabled.client, challenge, recovery_code="nope-nope", code="000000")
    assert (both_wrong.status, both_wrong.json()) == (422, INVALID_RECOVERY)
    fallback = await complete(enabled.client, challenge, recovery_code="nope-nope", code=enabled.code(0))
    assert fallback.status == 200


async def test_recovery_code_is_case_sensitive(enabled: Account) -> None:
    code = (await enabled.recovery_codes())[0]
    swapped = code.swapcase()
    response = await complete(enabled.client, await enabled.challenge(), recovery_code=swapped)
    assert (response.status, response.json()) == (422, INVALID_RECOVERY)


async def test_a_deactivated_account_is_refused_after_the_second_factor(enabled: Account) -> None:
    challenge = await enabled.challenge()
    await User.filter(username="ahmetyilmaz").update(is_active=False)
    response = await complete(enabled.client, challenge, code=enabled.code(0))
    assert (response.status, response.json()["errors"]) == (422, {"login": ["This account has been deactivated."]})


# --- races: one single-use secret, many requests ---------------------------------------------------------


async def test_concurrent_use_of_one_challenge_signs_in_once(enabled: Account) -> None:
    challenge = await enabled.challenge()
    responses = await asyncio.gather(
        *(complete(enabled.client, challenge, code=enabled.code(0)) for _ in range(RACERS))
    )
    assert sorted(r.status for r in responses) == [200] + [422] * (RACERS - 1)
    assert all(r.json() == INVALID_CODE for r in responses if r.status == 422)


async def test_concurrent_different_codes_on_one_challenge_sign_in_once(enabled: Account) -> None:
    challenge = await enabled.challenge()
    codes = [enabled.code(0), enabled.code(+1), *(await enabled.recovery_codes())[:3]]
    responses = await asyncio.gather(
        *(complete(enabled.client, challenge, **({"code": c} if len(c) == 6 else {"recovery_code": c})) for c in codes)
    )
    assert sorted(r.status for r in responses) == [200] + [422] * 4


async def test_concurrent_use_of_one_totp_code_signs_in_once(enabled: Account) -> None:
    challenges = [await enabled.challenge() for _ in range(RACERS)]
    responses = await asyncio.gather(*(complete(enabled.client, c, code=enabled.code(0)) for c in challenges))
    assert sorted(r.status for r in responses) == [200] + [422] * (RACERS - 1)
    assert all(r.json() == INVALID_CODE for r in responses if r.status == 422)


async def test_concurrent_confirmations_with_one_code_confirm_once(account: Account) -> None:
    """Confirming spends the TOTP code too: of many confirmations with it, one succeeds."""
    await account.enable(confirm_offset=None)
    responses = await asyncio.gather(*(account.post(CONFIRM, json={"code": account.code(0)}) for _ in range(RACERS)))
    assert sorted(r.status for r in responses) == [200] + [422] * (RACERS - 1)
    assert all(r.body == b'""' for r in responses if r.status == 200)
    assert all(r.json() == INVALID_CODE for r in responses if r.status == 422)
    assert (await User.get(id=(await account.get("/api/me")).json()["id"])).two_factor_confirmed_at is not None


async def test_concurrent_use_of_one_recovery_code_signs_in_once(enabled: Account) -> None:
    code = (await enabled.recovery_codes())[5]
    challenges = [await enabled.challenge() for _ in range(RACERS)]
    responses = await asyncio.gather(*(complete(enabled.client, c, recovery_code=code) for c in challenges))
    assert sorted(r.status for r in responses) == [200] + [422] * (RACERS - 1)
    assert all(r.json() == INVALID_RECOVERY for r in responses if r.status == 422)
    after = await enabled.recovery_codes()
    assert len(set(after)) == 8 and code not in after


async def test_concurrent_different_recovery_codes_all_work(enabled: Account) -> None:
    """Each compare-and-swap that loses to another code's replacement reads again and retries."""
    codes = (await enabled.recovery_codes())[:4]
    challenges = [await enabled.challenge() for _ in codes]
    responses = await asyncio.gather(
        *(complete(enabled.client, c, recovery_code=code) for c, code in zip(challenges, codes, strict=True))
    )
    assert [r.status for r in responses] == [200] * 4
    after = await enabled.recovery_codes()
    assert len(set(after)) == 8 and not set(codes) & set(after)


async def test_concurrent_wrong_codes_never_exceed_the_attempts(enabled: Account) -> None:
    challenge = await enabled.challenge()
    responses = await asyncio.gather(*(complete(enabled.client, challenge, code=f"{n:06d}") for n in range(20)))
    assert {r.status for r in responses} == {422}
    assert (await TwoFactorChallenge.get(id=int(challenge.split("|")[0]))).attempts == 5


# --- a database written by Laravel + Fortify -------------------------------------------------------------


def independent_decrypt(payload: str, app_key: str) -> bytes:
    """Laravel's Encrypter, re-derived from the vectors' format note: not sanctum_py's Encrypter."""
    key = base64.b64decode(app_key.strip().removeprefix("base64:"))
    decoded = json.loads(base64.b64decode(payload))
    assert list(decoded) == ["iv", "value", "mac", "tag"] and decoded["tag"] == ""
    mac = hmac.new(key, (decoded["iv"] + decoded["value"]).encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, decoded["mac"])
    decryptor = Cipher(algorithms.AES(key), modes.CBC(base64.b64decode(decoded["iv"]))).decryptor()
    padded = decryptor.update(base64.b64decode(decoded["value"])) + decryptor.finalize()
    return padded[: -padded[-1]]


def php_unserialize_string(plaintext: bytes) -> str:
    match = re.fullmatch(rb's:([0-9]+):"(.*)";', plaintext, re.DOTALL)
    assert match is not None and int(match.group(1)) == len(match.group(2))
    return match.group(2).decode()


@pytest.fixture
def fortify_db(tmp_path: Path) -> Path:
    copy = tmp_path / "fortify.sqlite"
    shutil.copy(COMPAT_DIR / FORTIFY["sqlite_file"], copy)
    copy.chmod(0o644)
    asyncio.run(migrate(f"sqlite://{copy}"))
    return copy


@pytest.fixture
async def fortify_client(
    fortify_db: Path, aiohttp_client: Callable[[web.Application], Awaitable[TestClient]]
) -> ContractClient:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite://{fortify_db}",
        app_key=FORTIFY["app_key"].strip(),
        api_rate_limit=1000,
    )
    return ContractClient(await aiohttp_client(create_app(settings)))


def test_independent_decrypt_reads_the_vectors() -> None:
    stored = FORTIFY["stored"]
    secret = independent_decrypt(stored["two_factor_secret"], FORTIFY["app_key"])
    assert secret.decode() == FORTIFY["decrypt_with_unserialize_false"]["two_factor_secret"]
    codes = independent_decrypt(stored["two_factor_recovery_codes"], FORTIFY["app_key"])
    assert json.loads(php_unserialize_string(codes)) == FORTIFY["recovery_codes_plaintext"]


def test_migration_keeps_fortifys_columns(fortify_db: Path) -> None:
    row = (
        sqlite3.connect(fortify_db)
        .execute(
            "SELECT two_factor_secret, two_factor_recovery_codes, two_factor_confirmed_at, two_factor_last_timestep "
            "FROM users WHERE id = ?",
            (FORTIFY["user_id"],),
        )
        .fetchone()
    )
    stored = FORTIFY["stored"]
    expected = (
        stored["two_factor_secret"],
        stored["two_factor_recovery_codes"],
        stored["two_factor_confirmed_at"],
        None,
    )
    assert row == expected


async def fortify_challenge(client: ContractClient) -> str:
    response = await login(client, FORTIFY["username"], FORTIFY["user_password"])
    assert response.status == 200, response.text
    assert response.json()["two_factor"] is True
    return str(response.json()["challenge_token"])


async def test_fortify_secret_completes_a_login(fortify_client: ContractClient) -> None:
    code = code_at(FORTIFY["secret_plaintext"], timestep(time.time()))
    response = await complete(fortify_client, await fortify_challenge(fortify_client), code=code)
    assert response.status == 200, response.text
    token = response.json()["access_token"]
    assert response.json()["data"]["id"] == FORTIFY["user_id"]
    await confirm_password(fortify_client, token, FORTIFY["user_password"])
    secret = await fortify_client.get(SECRET, headers=bearer(token))
    assert secret.json() == {"secretKey": FORTIFY["secret_plaintext"]}
    assert (await fortify_client.get(CODES, headers=bearer(token))).json() == FORTIFY["recovery_codes_plaintext"]


async def test_fortify_recovery_code_completes_a_login_once(fortify_client: ContractClient, fortify_db: Path) -> None:
    used = FORTIFY["recovery_codes_plaintext"][0]
    response = await complete(fortify_client, await fortify_challenge(fortify_client), recovery_code=used)
    assert response.status == 200, response.text
    token = response.json()["access_token"]
    await confirm_password(fortify_client, token, FORTIFY["user_password"])
    codes = (await fortify_client.get(CODES, headers=bearer(token))).json()
    assert len(codes) == 8 and used not in codes
    assert codes[1:] == FORTIFY["recovery_codes_plaintext"][1:]
    reuse = await complete(fortify_client, await fortify_challenge(fortify_client), recovery_code=used)
    assert (reuse.status, reuse.json()) == (422, INVALID_RECOVERY)

    # What we wrote is what Laravel's decrypt() reads: checked without sanctum_py's Encrypter.
    stored = sqlite3.connect(fortify_db).execute("SELECT two_factor_recovery_codes FROM users WHERE id = 1").fetchone()
    assert json.loads(php_unserialize_string(independent_decrypt(stored[0], FORTIFY["app_key"]))) == codes


async def test_codes_encrypted_here_decrypt_independently(fortify_client: ContractClient, fortify_db: Path) -> None:
    other = next(u for u in VECTORS["users"] if not u["deleted"] and u["id"] != FORTIFY["user_id"])
    token = (await login(fortify_client, other["username"], other["password"])).json()
    assert "access_token" in token, token
    headers = bearer(token["access_token"])
    await confirm_password(fortify_client, token["access_token"], other["password"])
    assert (await fortify_client.post(ENABLE, headers=headers)).status == 200
    secret = (await fortify_client.get(SECRET, headers=headers)).json()["secretKey"]
    codes = (await fortify_client.get(CODES, headers=headers)).json()
    row = (
        sqlite3.connect(fortify_db)
        .execute("SELECT two_factor_secret, two_factor_recovery_codes FROM users WHERE id = ?", (other["id"],))
        .fetchone()
    )
    assert php_unserialize_string(independent_decrypt(row[0], FORTIFY["app_key"])) == secret
    codes_plaintext = php_unserialize_string(independent_decrypt(row[1], FORTIFY["app_key"]))
    assert json.loads(codes_plaintext) == codes
    assert codes_plaintext == json.dumps(codes, separators=(",", ":"))  # PHP's json_encode
