"""The login throttles under attack: who a failure counts against, and who can still sign in.

Each attempt names its client address in X-Forwarded-For (127.0.0.1, the test client, is a trusted
proxy), so an attacker's flood and the owner's logins come from different addresses, as they would.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from sanctum_py.db.models import User
from sanctum_py.http.kernel.keys import SERVICES
from tests.conftest import REDIS_URL, ClientFactory
from tests.mail.conftest import SmtpServer
from tests.support.api import JSON_HEADERS, register
from tests.support.contract import ContractClient, WireResponse
from tests.support.mailbox import smtp_server, smtp_settings
from tests.test_password_reset import NEW_PASSWORD, mailed_token, reset
from tests.test_two_factor import CHALLENGE, start

OWNER_IP = "10.0.0.1"
ATTACKER_IPS = [f"10.66.0.{n}" for n in range(1, 21)]


@pytest.fixture
def mail() -> Any:
    with smtp_server() as server:
        yield server


async def login_from(client: ContractClient, ip: str, login: str, password: str) -> WireResponse:
    headers = {**JSON_HEADERS, "X-Forwarded-For": ip}
    return await client.post("/api/login", json={"login": login, "password": password}, headers=headers)


async def flood(client: ContractClient, login: str, failures: int) -> None:
    """`failures` wrong passwords for `login`, spread over the attacker's addresses."""
    for n in range(failures):
        response = await login_from(client, ATTACKER_IPS[n % len(ATTACKER_IPS)], login, "wrong-password")
        assert response.status in (422, 429), response.text


async def throttled_client(make_client: ClientFactory, **extra: Any) -> ContractClient:
    return await make_client(  # type: ignore[no-any-return]
        trusted_proxies=["127.0.0.1"], login_max_attempts=100, login_max_failures_per_hour=5, **extra
    )


# --- item: the per-account counter -----------------------------------------------------------------------


async def test_a_bare_number_does_not_count_against_that_user_id(make_client: ClientFactory) -> None:
    client = await throttled_client(make_client)
    await register(client)
    user_id = (await User.get(username="ahmetyilmaz")).id
    await flood(client, str(user_id), 10)  # nobody's username or email is "<id>"
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == 200


async def test_a_flood_locks_the_attacker_but_not_the_owner_at_a_known_address(make_client: ClientFactory) -> None:
    client = await throttled_client(make_client)
    await register(client)
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == 200  # address now known
    await flood(client, "ahmetyilmaz", 10)
    # The account is locked for every address it has not signed in from, even with the right password ...
    locked = await login_from(client, "10.77.0.1", "ahmet@example.com", "password123")
    assert locked.status == 429
    assert locked.headers["X-RateLimit-Limit"] == "5"
    # ... but its owner, at an address that signed in before, still gets in, by either identifier.
    assert (await login_from(client, OWNER_IP, "ahmet@example.com", "password123")).status == 200
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == 200
    # The known address keeps its own 5-a-minute limit per login + address.
    quick: ContractClient = await make_client(trusted_proxies=["127.0.0.1"], login_max_attempts=2)  # type: ignore[operator]
    await register(quick, username="other", email="other@example.com")
    assert (await login_from(quick, OWNER_IP, "other", "password123")).status == 200
    for _ in range(2):
        assert (await login_from(quick, OWNER_IP, "other", "wrong")).status == 422
    assert (await login_from(quick, OWNER_IP, "other", "password123")).status == 429


async def test_a_known_address_is_known_to_its_account_only(make_client: ClientFactory) -> None:
    client = await throttled_client(make_client)
    await register(client)
    await register(client, username="other", email="other@example.com")
    assert (await login_from(client, OWNER_IP, "other", "password123")).status == 200
    await flood(client, "ahmetyilmaz", 10)
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == 429


async def test_a_completed_reset_clears_the_account_lock(mail: SmtpServer, make_client: ClientFactory) -> None:
    client = await throttled_client(make_client, **smtp_settings(mail))
    await register(client)
    await flood(client, "ahmetyilmaz", 10)
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == 429  # never signed in here
    token = await mailed_token(client, mail)
    assert (await reset(client, token)).status == 200
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", NEW_PASSWORD)).status == 200


async def test_a_two_factor_owner_at_a_known_address_completes_the_challenge(make_client: ClientFactory) -> None:
    account = await start(make_client, trusted_proxies=["127.0.0.1"], login_max_failures_per_hour=5)
    await account.enable()

    async def challenge_from(ip: str) -> WireResponse:
        return await login_from(account.client, ip, "ahmetyilmaz", "password123")

    async def complete_from(ip: str, challenge_token: str, offset: int) -> WireResponse:
        body = {"challenge_token": challenge_token, "code": account.code(offset)}
        return await account.client.post(CHALLENGE, json=body, headers={**JSON_HEADERS, "X-Forwarded-For": ip})

    first = (await challenge_from(OWNER_IP)).json()["challenge_token"]
    assert (await complete_from(OWNER_IP, first, 0)).status == 200  # a complete sign-in: the address is known
    await flood(account.client, "ahmetyilmaz", 10)
    assert (await challenge_from("10.77.0.1")).status == 429
    second = await challenge_from(OWNER_IP)
    assert second.status == 200
    assert (await complete_from(OWNER_IP, second.json()["challenge_token"], 1)).status == 200


# --- item: spellings the database folds together ---------------------------------------------------------


async def spelling_client(make_client: ClientFactory) -> ContractClient:
    client: ContractClient = await make_client(login_max_attempts=3)  # type: ignore[operator]
    await register(client)
    return client


async def test_username_and_email_share_one_login_throttle(make_client: ClientFactory) -> None:
    client = await spelling_client(make_client)
    for identifier in ("ahmetyilmaz", "ahmet@example.com", "AhmetYilmaz"):
        assert (await login_from(client, OWNER_IP, identifier, "wrong")).status == 422
    assert (await login_from(client, OWNER_IP, "ahmet@example.com", "password123")).status == 429


async def test_accented_spellings_share_one_login_throttle(make_client: ClientFactory, backend: str) -> None:
    """MariaDB's collation finds `ahmetyilmaz` for every variant (and a variant with the right password
    would sign in); on the others they are unknown logins, still counted as one text."""
    client = await spelling_client(make_client)
    for variant in ("ahmétyilmaz", "ahmètyilmaz", "ÄHMETYILMAZ"):
        assert (await login_from(client, OWNER_IP, variant, "wrong")).status == 422
    assert (await login_from(client, OWNER_IP, "ahmêtyilmaz", "password123")).status == 429
    # On MariaDB the account itself is the key, whichever spelling comes next.
    expected = 429 if backend == "mariadb" else 200
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == expected


async def test_dotted_capital_i_shares_the_accounts_login_throttle(make_client: ClientFactory, backend: str) -> None:
    """PostgreSQL's and MariaDB's lower() turn U+0130 into `i`; Python's gives `i` + U+0307."""
    client = await spelling_client(make_client)
    for identifier in ("AHMETYİLMAZ", "AHMETYİLMAZ", "ahmetyilmaz"):
        assert (await login_from(client, OWNER_IP, identifier, "wrong")).status == 422
    resolves = backend != "sqlite"  # SQLite's lower() folds ASCII only: there it is nobody's login
    expected = 429 if resolves else 200
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == expected


# --- item: nothing typed reaches Redis in clear -------------------------------------------------------------


async def test_redis_throttle_keys_hold_no_typed_text(mail: SmtpServer, make_client: ClientFactory) -> None:
    client: ContractClient = await make_client(  # type: ignore[operator]
        redis_url=REDIS_URL, trusted_proxies=["127.0.0.1"], **smtp_settings(mail)
    )
    await register(client)
    typed = "Typed-Passw0rd-In-The-Login-Field"
    for _ in range(3):
        assert (await login_from(client, OWNER_IP, typed, "wrong")).status == 422
        assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "wrong")).status == 422
    assert (await login_from(client, OWNER_IP, "ahmetyilmaz", "password123")).status == 200
    assert (await client.post("/api/forgot-password", json={"email": "Typed.Mail@Example.com"})).status == 200
    prefix = client.app[SERVICES].settings.redis_prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}*")]
    finally:
        await redis.aclose()
    assert any(":login:" in key for key in keys)  # the throttles did write there
    clear_texts = (typed, "typed.mail@example.com", "ahmetyilmaz", OWNER_IP)
    leaks = [key for key in keys if any(text.casefold() in key.casefold() for text in clear_texts)]
    assert leaks == []
