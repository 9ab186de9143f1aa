"""POST /api/v1/auth/two-factor-auth (seed 000): a challenged v1 login completed with a TOTP code or a
recovery code. 2FA is set up through the service (as Fortify's routes do it), so these tests do not depend
on how the Laravel setup routes are guarded; TOTP runs on a frozen clock in the middle of a 30 s step."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from sanctum_py.core.two_factor import code_at, timestep
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken, TwoFactorChallenge
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import ClientFactory
from tests.support.contract import ContractClient, WireResponse
from tests.v1.helpers import (
    BAD_CODE,
    NOT_AN_OBJECT,
    assert_no_store,
    assert_token_view,
    assert_too_many,
    bad_characters,
    expect,
    id_of,
    invalid,
    login,
    not_string,
    post,
    registered,
    required,
    user_row,
    v1_time,
    wire,
)

CHALLENGE_TOKEN = re.compile(r"^[1-9][0-9]*\|[A-Za-z0-9]{40,}$")


@dataclass
class TwoFactorUser:
    client: ContractClient
    secret: str
    recovery_codes: list[str]
    step: int

    def code(self, offset: int = 0) -> str:
        return code_at(self.secret, self.step + offset)

    async def challenge(self) -> str:
        response = await login(self.client, "kullanici123")
        assert response.status == 200, response.text
        body = response.json()
        expect(response, 200, {"two_factor_required": True, "challenge_token": body["challenge_token"]})
        assert CHALLENGE_TOKEN.fullmatch(body["challenge_token"])
        assert_no_store(response)
        return str(body["challenge_token"])

    async def complete(self, challenge_token: Any, **fields: Any) -> WireResponse:
        return await post(self.client, "two-factor-auth", {"challenge_token": challenge_token, **fields})


async def start(make_client: ClientFactory, **overrides: Any) -> TwoFactorUser:
    client = await make_client(**overrides)
    now = timestep(time.time()) * 30 + 15.0
    services = client.app[SERVICES]
    services.two_factor.clock = lambda: now
    user_id = (await registered(client))["user_id"]
    await services.two_factor.enable(user_id)
    secret = await services.two_factor.secret_key(user_id)
    codes = await services.two_factor.recovery_codes(user_id)
    await services.two_factor.confirm(user_id, code_at(secret, timestep(now) - 1))
    return TwoFactorUser(client, secret, codes, timestep(now))


@pytest.fixture
async def user(make_client: ClientFactory) -> TwoFactorUser:
    return await start(make_client)


async def test_login_answers_a_challenge_and_no_token(user: TwoFactorUser) -> None:
    await user.challenge()
    assert await PersonalAccessToken.all().count() == 0
    assert (await user_row())["last_login_at"] is None  # not signed in yet


async def test_a_code_completes_the_login(user: TwoFactorUser) -> None:
    challenge = await user.challenge()
    response = await user.complete(challenge, code=user.code())
    assert response.status == 200, response.text
    body = response.json()
    await assert_token_view(body)
    assert response.body == wire(body)
    assert_no_store(response)
    assert body["user"]["last_login"] == v1_time((await user_row())["last_login_at"]) is not None
    assert (await me_status(user.client, body["token"])) == 200


async def me_status(client: ContractClient, token: str) -> int:
    return (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).status


async def test_a_recovery_code_completes_the_login_once(user: TwoFactorUser) -> None:
    response = await user.complete(await user.challenge(), recovery_code=user.recovery_codes[0])
    assert response.status == 200, response.text
    await assert_token_view(response.json())
    again = await user.complete(await user.challenge(), recovery_code=user.recovery_codes[0])
    expect(again, 401, BAD_CODE)


async def test_a_challenge_and_a_code_work_once(user: TwoFactorUser) -> None:
    challenge = await user.challenge()
    assert (await user.complete(challenge, code=user.code())).status == 200
    expect(await user.complete(challenge, code=user.code(1)), 401, BAD_CODE)  # a spent challenge
    expect(await user.complete(await user.challenge(), code=user.code()), 401, BAD_CODE)  # a used code


async def test_wrong_codes_and_bad_challenges_are_one_401(user: TwoFactorUser) -> None:
    challenge = await user.challenge()
    challenge_id, secret = challenge.split("|")
    for challenge_token, fields in (
        (challenge, {"code": "000000" if user.code() != "000000" else "111111"}),
        (challenge, {"code": user.code(5)}),
        (challenge, {"recovery_code": "abcdefghij-klmnopqrst"}),
        (f"{int(challenge_id) + 1000}|{secret}", {"code": user.code()}),
        (f"{challenge_id}|{'x' * len(secret)}", {"code": user.code()}),
        ("not-a-challenge", {"code": user.code()}),
        ("9|" + "x" * 5000, {"code": user.code()}),  # no length rule: just not a challenge
    ):
        expect(await user.complete(challenge_token, **fields), 401, BAD_CODE)
    assert (await user.complete(challenge, code=user.code())).status == 200  # none of them spent it


async def test_an_expired_challenge_is_the_same_401(user: TwoFactorUser) -> None:
    challenge = await user.challenge()
    await TwoFactorChallenge.filter(id=id_of(challenge)).update(expires_at=utc_now() - timedelta(seconds=1))
    expect(await user.complete(challenge, code=user.code()), 401, BAD_CODE)


async def test_the_challenge_dies_after_its_attempts(make_client: ClientFactory) -> None:
    user = await start(make_client, two_factor_challenge_attempts=2)
    challenge = await user.challenge()
    for _ in range(2):
        expect(await user.complete(challenge, code=user.code(7)), 401, BAD_CODE)
    expect(await user.complete(challenge, code=user.code()), 401, BAD_CODE)


async def test_wrong_codes_spend_the_accounts_budget_429(make_client: ClientFactory) -> None:
    user = await start(make_client, login_max_failures_per_hour=3)
    challenge = await user.challenge()
    for _ in range(3):
        expect(await user.complete(challenge, code=user.code(7)), 401, BAD_CODE)
    assert_too_many(await user.complete(challenge, code=user.code()), at_most=3600)


async def test_form_encoded(user: TwoFactorUser) -> None:
    challenge = await user.challenge()
    response = await post(user.client, "two-factor-auth", data={"challenge_token": challenge, "code": user.code()})
    assert response.status == 200, response.text


VALIDATION: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, invalid(required("challenge_token"))),
    ({"code": "123456"}, invalid(required("challenge_token"))),
    ({"challenge_token": "", "code": "123456"}, invalid(required("challenge_token"))),
    ({"challenge_token": 12, "code": "123456"}, invalid(not_string("challenge_token"))),
    ({"challenge_token": ["1|x"], "code": "123456"}, invalid(not_string("challenge_token"))),
    ({"challenge_token": "1|x", "code": 123456}, invalid(not_string("code"))),
    ({"challenge_token": "1|x", "recovery_code": {"a": "b"}}, invalid(not_string("recovery_code"))),
    ({"challenge_token": "1|a\u0000b", "code": "123456"}, invalid(bad_characters("challenge_token"))),
    ({"challenge_token": "1|x", "code": "12\u00003456"}, invalid(bad_characters("code"))),
    ({"challenge_token": True, "code": False, "recovery_code": 1.5},
     invalid(not_string("challenge_token"), not_string("code"), not_string("recovery_code"))),
    # Neither code: the body lacks what the route needs (decided: `code` is the one named).
    ({"challenge_token": "1|x"}, invalid(required("code"))),
    ({"challenge_token": "1|x", "code": "", "recovery_code": None}, invalid(required("code"))),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), VALIDATION)
async def test_validation(client: ContractClient, body: dict[str, Any], expected: dict[str, Any]) -> None:
    expect(await post(client, "two-factor-auth", body), 422, expected)


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"'])
async def test_a_body_that_is_not_a_json_object_is_400(client: ContractClient, raw: bytes) -> None:
    response = await post(client, "two-factor-auth", data=raw, headers={"Content-Type": "application/json"})
    expect(response, 400, NOT_AN_OBJECT)
