"""Logins racing a password reset: nothing verified against the old password outlives the reset.

The race is made deterministic without hooks: BCRYPT_ROUNDS is high enough that a login spends a long
time in its password check, and the test commits what a reset commits (a new hash, then the user's
tokens revoked) while the login is inside that check, from a second connection, as a reset would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import bcrypt
import pytest
from tortoise.transactions import in_transaction

from sanctum_py.db.models import PersonalAccessToken, RefreshToken, TwoFactorChallenge, User
from tests.conftest import ClientFactory
from tests.mail.conftest import SmtpServer
from tests.support.api import bearer, login, register
from tests.support.contract import ContractClient, WireResponse
from tests.support.db import query
from tests.support.mailbox import smtp_server, smtp_settings
from tests.test_password_reset import mailed_token, reset
from tests.test_two_factor import INVALID_CODE, complete, start

SLOW_ROUNDS = 13  # a bcrypt check takes ~0.5 s or more: the reset lands inside it
INSIDE_THE_CHECK = 0.15  # seconds after the login was sent: its user row is read, bcrypt is running
INVALID = {"message": "The given data was invalid.", "errors": {"login": ["Invalid credentials."]}}


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


async def reset_behind_the_login(client: ContractClient) -> WireResponse:
    """Send a login with the right password, and commit a reset's changes while it checks the password."""
    pending = asyncio.create_task(login(client, "ahmetyilmaz", "password123"))
    await asyncio.sleep(INSIDE_THE_CHECK)
    assert not pending.done()
    new_hash = bcrypt.hashpw(b"brand-new-passw0rd", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    await query("UPDATE users SET password = {} WHERE username = {}", new_hash, "ahmetyilmaz")
    user = await User.get(username="ahmetyilmaz")
    await query("DELETE FROM personal_access_tokens WHERE tokenable_id = {}", user.id)
    assert not pending.done()  # the login was still checking the old password when the reset committed
    return await pending


@pytest.mark.parametrize("refresh_tokens", [False, True])
async def test_a_login_that_verified_the_old_password_gets_no_token(
    make_client: ClientFactory, refresh_tokens: bool
) -> None:
    client = await make_client(bcrypt_rounds=SLOW_ROUNDS, refresh_tokens=refresh_tokens)
    await register(client)
    refresh_rows = await RefreshToken.all().count()  # the registration's, when refresh tokens are on
    response = await reset_behind_the_login(client)
    assert (response.status, response.json()) == (422, INVALID)  # as a wrong password answers
    user = await User.get(username="ahmetyilmaz")
    assert await PersonalAccessToken.filter(tokenable_id=user.id).count() == 0
    assert await RefreshToken.all().count() == refresh_rows  # the login made no refresh token either


async def test_a_challenge_is_not_issued_for_the_old_password(make_client: ClientFactory) -> None:
    account = await start(make_client, bcrypt_rounds=SLOW_ROUNDS)
    await account.enable()
    response = await reset_behind_the_login(account.client)
    assert (response.status, response.json()) == (422, INVALID)
    assert await TwoFactorChallenge.all().count() == 0


async def test_a_challenge_obtained_before_a_reset_fails_after_it(mail: SmtpServer, make_client: ClientFactory) -> None:
    account = await start(make_client, **smtp_settings(mail))
    await account.enable()
    challenge = await account.challenge()
    token = await mailed_token(account.client, mail)
    assert (await reset(account.client, token)).status == 200
    response = await complete(account.client, challenge, code=account.code(0))
    assert (response.status, response.json()) == (422, INVALID_CODE)
    assert await TwoFactorChallenge.all().count() == 0  # the reset ended it


async def test_tokens_from_before_the_reset_stop_working(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await make_client(**smtp_settings(mail))
    await register(client)
    old = (await login(client, "ahmetyilmaz", "password123")).json()["access_token"]
    assert (await reset(client, await mailed_token(client, mail))).status == 200
    assert (await client.get("/api/me", headers=bearer(old))).status == 401


async def test_a_login_waits_for_a_reset_in_flight_and_then_gets_no_token(
    make_client: ClientFactory, backend: str
) -> None:
    """The reset's transaction has changed the hash but not committed when the login inserts its token:
    the insert's locked read of the users row waits for the commit, then finds the new hash."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises every write: the service's one connection would wait for this test's")
    client = await make_client(bcrypt_rounds=SLOW_ROUNDS)
    await register(client)
    user = await User.get(username="ahmetyilmaz")
    pending = asyncio.create_task(login(client, "ahmetyilmaz", "password123"))
    await asyncio.sleep(INSIDE_THE_CHECK)
    new_hash = bcrypt.hashpw(b"brand-new-passw0rd", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    async with in_transaction():
        await User.filter(id=user.id).update(password=new_hash)
        await asyncio.sleep(3)  # the login's bcrypt check ends; its insert now waits on the row lock
        assert not pending.done()
    response = await pending
    assert (response.status, response.json()) == (422, INVALID)
    assert await PersonalAccessToken.filter(tokenable_id=user.id, name="auth_token").count() == 1  # registration's
