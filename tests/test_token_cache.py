"""The verified-token cache: no stampede on a miss, and never a token accepted after its revocation."""

from __future__ import annotations

import asyncio

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.token_cache import TokenCache, VerifiedToken
from sanctum_py.http.kernel.keys import SERVICES
from tests.support.api import register
from tests.support.contract import ContractClient


class CountingTokens(AccessTokens):
    """The real service, counting its database lookups."""

    loads = 0

    async def _load(self, token_id: int | None, secret: str, token_hash: str) -> VerifiedToken | None:
        self.loads += 1
        return await super()._load(token_id, secret, token_hash)


def _tokens(ttl: float) -> CountingTokens:
    return CountingTokens(tokenable_type="App\\Models\\User", cache=TokenCache(ttl=ttl))


async def test_concurrent_misses_share_one_lookup(client: ContractClient) -> None:
    plain = (await register(client)).json()["access_token"]
    tokens = _tokens(ttl=30)
    results = await asyncio.gather(*(tokens.authenticate(plain) for _ in range(50)))
    assert all(result is not None and result.user.username == "ahmetyilmaz" for result in results)
    assert tokens.loads == 1
    assert await tokens.authenticate(plain) is not None
    assert tokens.loads == 1  # served from the cache


async def test_without_cache_every_request_reads_the_database(client: ContractClient) -> None:
    plain = (await register(client)).json()["access_token"]
    tokens = _tokens(ttl=0)
    await asyncio.gather(*(tokens.authenticate(plain) for _ in range(5)))
    assert tokens.loads == 5


async def test_revocation_during_a_lookup_is_never_undone(client: ContractClient) -> None:
    plain = (await register(client)).json()["access_token"]
    tokens = _tokens(ttl=30)
    in_flight = asyncio.ensure_future(tokens.authenticate(plain))
    await asyncio.sleep(0)  # the lookup has started
    await tokens.revoke(int(plain.split("|")[0]))
    await in_flight  # it may still answer for the request that came before the revocation
    assert await tokens.authenticate(plain) is None  # but nothing after the revocation accepts it


async def test_aging_entries_reload_in_the_background(client: ContractClient) -> None:
    plain = (await register(client)).json()["access_token"]
    tokens = _tokens(ttl=0.2)
    assert await tokens.authenticate(plain) is not None
    await asyncio.sleep(0.16)  # past three quarters of the ttl
    assert await tokens.authenticate(plain) is not None  # answered from the cache...
    await asyncio.sleep(0.05)
    assert tokens.loads == 2  # ...while a reload ran behind it
    await asyncio.sleep(0.1)  # past the first entry's ttl: the reloaded entry serves
    assert await tokens.authenticate(plain) is not None
    assert tokens.loads == 2


async def test_logout_through_the_app_is_immediate(client: ContractClient) -> None:
    services = client.app[SERVICES]
    # No Redis: `auto` caches only on SQLite (which one `serve` owns); PostgreSQL and MariaDB may be shared
    # by other nodes that could not tell this one about their revocations.
    assert services.tokens.cache.enabled == services.settings.is_sqlite
    plain = (await register(client)).json()["access_token"]
    headers = {"Authorization": f"Bearer {plain}"}
    assert (await client.get("/api/me", headers=headers)).status == 200
    assert (await client.post("/api/logout", headers=headers)).status == 200
    assert (await client.get("/api/me", headers=headers)).status == 401


async def test_lapsed_entries_do_not_pile_up(client: ContractClient) -> None:
    """Tokens used once and never again leave the cache once past their ttl, not only at max_entries."""
    tokens = _tokens(ttl=0.2)
    once = [(await register(client, username=f"once{n}", email=f"once{n}@example.com")).json() for n in range(5)]
    for body in once:
        assert await tokens.authenticate(body["access_token"]) is not None
    assert len(tokens.cache._by_hash) == 5
    await asyncio.sleep(0.25)
    fresh = (await register(client, username="fresh", email="fresh@example.com")).json()["access_token"]
    assert await tokens.authenticate(fresh) is not None
    assert [entry.user.username for entry in tokens.cache._by_hash.values()] == ["fresh"]
