"""A login racing a deactivation: no token it was about to issue outlives the deactivation.

Deterministic without hooks, as tests/test_reset_race.py: BCRYPT_ROUNDS is high enough that the login is
still checking the password (its users row, still active, already read) when an admin's deactivation is
answered; the login's token insert must then find the account inactive and write nothing, or a later
reactivation would bring that token back.
"""

from __future__ import annotations

import asyncio

from sanctum_py.db.models import PersonalAccessToken, User
from tests.conftest import ClientFactory
from tests.support.api import bearer, login, register

SLOW_ROUNDS = 13
INSIDE_THE_CHECK = 0.15


async def test_a_login_that_checked_an_active_account_gets_no_token_after_its_deactivation(
    make_client: ClientFactory,
) -> None:
    client = await make_client(bcrypt_rounds=SLOW_ROUNDS)
    await register(client)
    await register(client, username="boss", email="boss@example.com")
    await User.filter(username="boss").update(role="admin")
    admin = (await login(client, "boss", "password123")).json()["access_token"]
    user = await User.get(username="ahmetyilmaz")

    pending = asyncio.create_task(login(client, "ahmetyilmaz", "password123"))
    await asyncio.sleep(INSIDE_THE_CHECK)
    deactivated = await client.request(
        "PATCH", f"/api/users/{user.id}", json={"is_active": False}, headers=bearer(admin)
    )
    assert deactivated.status == 200, deactivated.text
    assert not pending.done()  # the login was still checking the password when the deactivation was answered
    response = await pending

    assert response.status == 422, response.text  # refused, as a login of an inactive account is
    assert await PersonalAccessToken.filter(tokenable_id=user.id).count() == 0
    reactivated = await client.request(
        "PATCH", f"/api/users/{user.id}", json={"is_active": True}, headers=bearer(admin)
    )
    assert reactivated.status == 200, reactivated.text
    assert await PersonalAccessToken.filter(tokenable_id=user.id).count() == 0  # nothing came back
