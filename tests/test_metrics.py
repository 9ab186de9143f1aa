"""GET /metrics (METRICS=on): what the service did, counted by bounded labels; off, Laravel's 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sanctum_py.app import create_app
from sanctum_py.http.kernel.keys import METRICS
from sanctum_py.settings import Settings
from tests.conftest import TEST_APP_KEY, ClientFactory
from tests.support.api import JSON_HEADERS, bearer, login, register
from tests.support.contract import ContractClient

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
METRICS_TOKEN = "metrics-scraper-token-0123456789"


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: ContractClient, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.text)


async def test_metrics_off_answer_as_an_unknown_route(client: ContractClient) -> None:
    unknown = await client.get("/nothing-here")
    for method in ("GET", "HEAD"):
        response = await client.request(method, "/metrics")
        assert response.status == 404
        assert response.body == (unknown.body if method == "GET" else b"")
    assert METRICS not in client.app


async def test_requests_logins_throttles_and_tokens_are_counted(make_client: ClientFactory) -> None:
    client = await make_client(metrics="on", login_max_attempts=2)
    token = (await register(client)).json()["access_token"]
    second = (await login(client, "ahmetyilmaz", "password123")).json()["access_token"]
    for _ in range(2):
        assert (await login(client, "ahmetyilmaz", "wrong-password")).status == 422
    assert (await login(client, "ahmetyilmaz", "wrong-password")).status == 429
    for _ in range(3):
        assert (await client.get("/api/me", headers=bearer(token))).status == 200
    assert (await client.delete("/api/tokens/987654", headers=bearer(token))).status == 404
    assert (await client.post("/api/logout", headers=bearer(second))).status == 200
    assert (await client.get("/api/nothing/12345", headers=JSON_HEADERS)).status == 404
    async with client.raw.request("PROPFIND", "/api/coffee") as response:  # WebDAV: not one of Laravel's verbs
        assert response.status == 404

    found = await scrape(client)
    requests = "sanctum_http_requests_total"
    assert value(found, requests, method="POST", route="/api/register", status="201") == 1
    assert value(found, requests, method="POST", route="/api/login", status="422") == 2
    assert value(found, requests, method="POST", route="/api/login", status="429") == 1
    assert value(found, requests, method="GET", route="/api/me", status="200") == 3
    assert value(found, requests, method="DELETE", route="/api/tokens/{id}", status="404") == 1
    assert value(found, requests, method="GET", route="unmatched", status="404") == 1
    assert value(found, requests, method="other", route="unmatched", status="404") == 1
    latency = "sanctum_http_request_duration_seconds"
    assert value(found, f"{latency}_count", method="GET", route="/api/me") == 3
    assert value(found, f"{latency}_bucket", method="GET", route="/api/me", le="+Inf") == 3
    assert 0 < value(found, f"{latency}_sum", method="GET", route="/api/me") < 10
    assert value(found, "sanctum_http_throttled_requests_total", route="/api/login") == 1
    assert value(found, "sanctum_logins_total", outcome="ok") == 1
    assert value(found, "sanctum_logins_total", outcome="failed") == 2
    assert value(found, "sanctum_logins_total", outcome="throttled") == 1
    assert value(found, "sanctum_logins_total", outcome="inactive") == 0  # present from the start, at 0
    assert value(found, "sanctum_tokens_issued_total", kind="access") == 2
    assert value(found, "sanctum_tokens_revoked_total", kind="access") == 1
    assert value(found, "sanctum_database_errors_total") == 0
    assert value(found, "process_resident_memory_bytes") > 0
    # Templates, never raw paths or methods as sent: label values stay bounded.
    labels = {label for (_, pairs) in found for label in pairs}
    assert not any("987654" in v or "12345" in v or "PROPFIND" in v for _, v in labels)


async def test_refresh_tokens_are_counted_as_issued_and_revoked(make_client: ClientFactory) -> None:
    client = await make_client(metrics="on", refresh_tokens=True)
    await register(client)
    signed_in = (await login(client, "ahmetyilmaz", "password123")).json()
    assert (await client.post("/api/logout", headers=bearer(signed_in["access_token"]))).status == 200
    found = await scrape(client)
    assert value(found, "sanctum_tokens_issued_total", kind="refresh") == 2  # register and login
    assert value(found, "sanctum_tokens_revoked_total", kind="refresh") == 1
    assert value(found, "sanctum_tokens_revoked_total", kind="access") == 1


async def test_a_metrics_token_guards_the_route(make_client: ClientFactory) -> None:
    client = await make_client(metrics="on", metrics_token=METRICS_TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {METRICS_TOKEN}"}):
        response = await client.get("/metrics", headers=headers)
        assert (response.status, response.body) == (401, b'{"message":"Unauthenticated."}'), headers
    found = await scrape(client, METRICS_TOKEN)
    assert value(found, "sanctum_http_requests_total", method="GET", route="/metrics", status="401") == 3


async def test_two_apps_in_one_process_count_apart(make_client: ClientFactory) -> None:
    first, second = await make_client(metrics="on"), await make_client(metrics="on")
    await register(first)
    found = await scrape(second)
    assert value(found, "sanctum_http_requests_total", method="POST", route="/api/register", status="201") == 0


async def test_database_errors_are_counted(aiohttp_client: Callable[[web.Application], Awaitable[TestClient]]) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="postgres://postgres@127.0.0.1:1/none", app_key=TEST_APP_KEY, metrics="on"
    )
    client = ContractClient(await aiohttp_client(create_app(settings)))
    for _ in range(2):
        response = await client.post("/api/login", json={"login": "someone", "password": "password123"})
        assert response.status == 503
    found = await scrape(client)
    assert value(found, "sanctum_database_errors_total") == 2
    assert value(found, "sanctum_http_requests_total", method="POST", route="/api/login", status="503") == 2
