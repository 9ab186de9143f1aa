"""/auth/forward (nginx auth_request, Traefik ForwardAuth) over HTTP on every backend: 200 with the owner in
X-Auth-* headers for every access token kind and every method, 401 otherwise, on the guard's cached path."""

from __future__ import annotations

from urllib.parse import unquote

from sanctum_py.db.models import PersonalAccessToken
from tests.conftest import ClientFactory
from tests.gateway.helpers import FORWARD, USERNAME, tokens_of_every_kind
from tests.support.api import bearer, register
from tests.support.contract import ContractClient, WireResponse

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# What nginx and Traefik add to the subrequest: accepted, and nothing depends on them.
FORWARDED = {
    "X-Forwarded-Method": "DELETE",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
    "X-Forwarded-Uri": "/orders/7?x=1",
    "X-Forwarded-For": "198.51.100.4",
    "X-Original-URI": "/orders/7",
}


def assert_allowed(response: WireResponse, user_id: int, why: object) -> None:
    assert response.status == 200, (why, response.text)
    assert response.body == b"", why
    assert response.headers["X-Auth-User-Id"] == str(user_id), why
    assert response.headers["X-Auth-User-Role"] == "user", why
    assert response.headers["Cache-Control"] == "no-store", why
    assert "X-RateLimit-Limit" not in response.headers, why  # not throttled (README)


async def forward(client: ContractClient, token: str | None, method: str = "GET", **headers: str) -> WireResponse:
    sent = {**(bearer(token) if token is not None else {}), **headers}
    return await client.request(method, FORWARD, headers=sent)


async def test_every_access_token_kind_passes_on_every_method(make_client: ClientFactory) -> None:
    client = await make_client(refresh_tokens=True)
    tokens = await tokens_of_every_kind(client)
    for kind, token in tokens.access.items():
        for method in METHODS:
            response = await forward(client, token, method, **FORWARDED)
            assert_allowed(response, tokens.user_id, (kind, method))
            row = await PersonalAccessToken.get(id=int(response.headers["X-Auth-Token-Id"]))
            assert row.tokenable_id == tokens.user_id
            assert response.headers["X-Auth-Abilities"] == "*"
    for kind, token in tokens.refresh.items():
        assert (await forward(client, token)).status == 401, f"refresh token ({kind})"


async def test_no_token_or_a_bad_one_is_401_with_a_bearer_challenge(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    missing = await forward(client, None)
    assert (missing.status, missing.body) == (401, b'{"error":"invalid_token"}')
    assert missing.headers["WWW-Authenticate"] == "Bearer"  # RFC 6750 §3.1: no error code without a token
    for bad in ("garbage", token + "x", "1|", token.split("|")[1][:-1]):
        for method in ("GET", "POST", "HEAD"):
            refused = await forward(client, bad, method)
            assert refused.status == 401, (bad, method)
            assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    basic = await client.get(FORWARD, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status == 401


async def test_a_logout_is_refused_on_the_very_next_request(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    user_id = (await client.get("/api/me", headers=bearer(token))).json()["id"]
    for _ in range(3):
        assert_allowed(await forward(client, token), user_id, "before logout (cached)")
    assert (await client.post("/api/logout", headers=bearer(token))).status == 200
    assert (await forward(client, token)).status == 401


async def test_a_cache_hit_reads_no_database(make_client: ClientFactory) -> None:
    """The row is deleted behind the service's back (no revocation reaches the cache): the cached path still
    answers 200 for TOKEN_CACHE_SECONDS, which only a path that reads no row can do. With the cache off the
    same deletion is a 401 at once. (Revocations through the service are immediate: test above.)"""
    for cache, expected in (("on", 200), ("off", 401)):
        client = await make_client(token_cache=cache, token_cache_seconds=60)
        token = (await register(client, username=f"u{cache}", email=f"{cache}@example.com")).json()["access_token"]
        assert (await forward(client, token)).status == 200  # loaded (and cached, when on)
        await PersonalAccessToken.filter(id=int(token.split("|")[0])).delete()
        assert (await forward(client, token)).status == expected, cache


async def test_forward_auth_is_not_rate_limited(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2)
    token = (await register(client)).json()["access_token"]
    user_id = (await client.get("/api/me", headers=bearer(token))).json()["id"]
    for attempt in range(10):
        assert_allowed(await forward(client, token), user_id, attempt)
    assert (await forward(client, "garbage")).status == 401  # refusals are not throttled either
    statuses = [(await client.get("/api/me", headers=bearer(token))).status for _ in range(2)]
    assert statuses == [200, 429]  # the API limit itself still bites (the first /api/me above was one of 2)


async def test_abilities_travel_percent_encoded(client: ContractClient) -> None:
    await register(client)
    abilities = ["tokens:read", "orders:write", "has space", "ünïcode", 'quo"te\\', "line\r\nX-Injected: 1", "100%"]
    login = await client.post("/api/login", json={"login": USERNAME, "password": "password123", "abilities": abilities})
    assert login.status == 200, login.text
    response = await forward(client, login.json()["access_token"])
    header = response.headers["X-Auth-Abilities"]
    assert header.isascii() and len(header.split(" ")) == len(abilities)
    assert "X-Injected" not in response.headers
    assert [unquote(part) for part in header.split(" ")] == abilities
    assert header.split(" ")[:2] == ["tokens:read", "orders:write"]  # ordinary abilities stay readable


async def test_an_unverified_user_is_forbidden_when_verification_is_required(make_client: ClientFactory) -> None:
    client = await make_client(require_verified_email=True)
    token = (await register(client)).json()["access_token"]
    response = await forward(client, token)
    assert (response.status, response.body) == (403, b'{"error":"email_not_verified"}')


async def test_unknown_paths_and_methods_answer_in_the_gateway_shape(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=64)
    assert (await client.get(FORWARD + "/x")).body == b'{"error":"not_found"}'
    too_large = await client.post(FORWARD, data=b"x" * 100)
    assert (too_large.status, too_large.body) == (413, b'{"error":"request_too_large"}')
    trace = await client.request("TRACE", FORWARD)
    assert (trace.status, trace.headers["Allow"]) == (405, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
