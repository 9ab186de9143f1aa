"""CORS as config/cors.php + HandleCors + php-cors' CorsService answer it, under several configurations,
over real HTTP against the app (tests/test_wire_errors.py keeps the stock configuration's wire).

CORS is decided before any database work (a preflight never reaches a route), so these run on SQLite only;
the browser's side of it (a real cross-origin fetch reading X-RateLimit-Remaining) is tests/test_browser.py.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from sanctum_py.settings import Settings
from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS, bearer, register
from tests.support.contract import ContractClient


@pytest.fixture
def backend() -> str:
    """SQLite only (see above), overriding the suite's parametrized fixture."""
    return "sqlite"


RATE_LIMIT_EXPOSED = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"


def preflight_headers(origin: str | None, method: str = "POST", headers: str | None = None) -> dict[str, str]:
    sent = {"Access-Control-Request-Method": method}
    if origin is not None:
        sent["Origin"] = origin
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return sent


# --- the defaults -----------------------------------------------------------------------------------


async def test_default_exposes_the_rate_limit_headers(client: ContractClient) -> None:
    response = await client.post("/api/login", json={}, headers={**JSON_HEADERS, "Origin": "https://spa.test"})
    assert response.status == 422
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Expose-Headers"] == RATE_LIMIT_EXPOSED
    assert "X-RateLimit-Remaining" in response.headers  # what the exposure is for
    assert "Vary" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    "path", ["/sanctum/token", "/sanctum/token/", "/graphql", "/api/v1/auth/login", "/api/auth/login"]
)
async def test_default_paths_cover_every_wire(client: ContractClient, path: str) -> None:
    preflight = await client.request(
        "OPTIONS", path, headers=preflight_headers("https://spa.test", "post", "content-type")
    )
    assert preflight.status == 204
    assert preflight.body == b""
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"
    assert preflight.headers["Access-Control-Max-Age"] == "0"
    assert preflight.headers["Vary"] == "Access-Control-Request-Method, Access-Control-Request-Headers"
    actual = await client.post(path, json={}, headers={**JSON_HEADERS, "Origin": "https://spa.test"})
    assert actual.headers["Access-Control-Allow-Origin"] == "*"
    assert actual.headers["Access-Control-Expose-Headers"] == RATE_LIMIT_EXPOSED


@pytest.mark.parametrize("path", ["/up", "/.well-known/jwks.json", "/api"])
async def test_paths_outside_cors_paths_get_nothing(client: ContractClient, path: str) -> None:
    response = await client.raw.get(path, headers={"Origin": "https://spa.test"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers
    # And a preflight there is not answered by CORS: it goes to the router.
    preflight = await client.raw.options(path, headers=preflight_headers("https://spa.test"))
    assert preflight.status != 204
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_a_router_options_request_varies_on_the_request_method(client: ContractClient) -> None:
    response = await client.request("OPTIONS", "/api/me", headers={"Origin": "https://spa.test"})
    assert response.status == 200  # Laravel's router answers it, HandleCors adds its headers
    assert response.headers["Vary"] == "Access-Control-Request-Method"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- configured ------------------------------------------------------------------------------------


async def test_listed_methods_and_headers_are_sent_as_listed(make_client: ClientFactory) -> None:
    client = await make_client(
        cors_allowed_methods="get,post", cors_allowed_headers="Content-Type,Authorization", cors_max_age=600
    )
    response = await client.request(
        "OPTIONS", "/api/me", headers=preflight_headers("https://spa.test", "DELETE", "x-anything")
    )
    assert response.status == 204
    # php-cors does not refuse a method or header it does not list: it states the list, the browser refuses.
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type, authorization"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.headers["Vary"] == "Access-Control-Request-Method"


async def test_empty_max_age_and_exposed_headers_send_none(make_client: ClientFactory) -> None:
    client = await make_client(cors_max_age="", cors_exposed_headers="")
    preflight = await client.request("OPTIONS", "/api/login", headers=preflight_headers("https://spa.test"))
    assert preflight.status == 204
    assert "Access-Control-Max-Age" not in preflight.headers
    actual = await client.post("/api/login", json={}, headers={**JSON_HEADERS, "Origin": "https://spa.test"})
    assert actual.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Expose-Headers" not in actual.headers


async def test_credentials_with_any_origin_echo_the_origin(make_client: ClientFactory) -> None:
    client = await make_client(cors_supports_credentials=True)
    registered = await register(client)
    token = registered.json()["access_token"]
    response = await client.get("/api/me", headers={**JSON_HEADERS, **bearer(token), "Origin": "https://spa.test"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://spa.test"  # never `*` with credentials
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Expose-Headers"] == RATE_LIMIT_EXPOSED
    assert response.headers["Vary"] == "Origin"
    no_origin = await client.get("/api/me", headers={**JSON_HEADERS, **bearer(token)})
    assert "Access-Control-Allow-Origin" not in no_origin.headers
    assert "Access-Control-Allow-Credentials" not in no_origin.headers
    assert no_origin.headers["Vary"] == "Origin"
    preflight = await client.request(
        "OPTIONS", "/api/me", headers=preflight_headers("https://spa.test", "GET", "authorization")
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://spa.test"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.headers["Vary"] == ("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")


@pytest.mark.parametrize(
    ("origins", "patterns", "origin", "allowed"),
    [
        ("https://a.test", "", "https://evil.test", "https://a.test"),  # one origin: sent whatever is asked
        ("https://a.test,https://b.test", "", "https://b.test", "https://b.test"),
        ("https://a.test,https://b.test", "", "https://evil.test", None),
        ("https://*.b.test", "", "https://app.b.test", "https://app.b.test"),  # a wildcard origin
        ("https://*.b.test", "", "https://b.test.evil.test", None),  # the wildcard is anchored at both ends
        ("", r"^https://[a-z]+\.example\.com$", "https://app.example.com", "https://app.example.com"),
        ("", r"^https://[a-z]+\.example\.com$", "https://app.example.com.evil.test", None),
        ("", r"example\.com", "https://example.com.evil.test", "https://example.com.evil.test"),  # unanchored
        ('["https://a.test"]', r'["^https://x{1,3}\\.test$"]', "https://xx.test", "https://xx.test"),  # JSON
    ],
)
async def test_origins_and_patterns(
    make_client: ClientFactory, origins: str, patterns: str, origin: str, allowed: str | None
) -> None:
    client = await make_client(cors_allowed_origins=origins, cors_allowed_origins_patterns=patterns)
    actual = await client.post("/api/login", json={}, headers={**JSON_HEADERS, "Origin": origin})
    preflight = await client.request("OPTIONS", "/api/login", headers=preflight_headers(origin))
    assert preflight.status == 204
    for response in (actual, preflight):
        assert response.headers.get("Access-Control-Allow-Origin") == allowed
    if allowed is None:  # a refused origin learns nothing more
        assert "Access-Control-Expose-Headers" not in actual.headers
        assert "Access-Control-Allow-Methods" not in preflight.headers
        assert preflight.headers["Vary"] == "Origin, Access-Control-Request-Method"
    else:
        assert actual.headers["Access-Control-Expose-Headers"] == RATE_LIMIT_EXPOSED
        assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    # Vary: Origin exactly when the answer depends on the Origin.
    assert ("Origin" in actual.headers.get("Vary", "")) == (origins != "https://a.test")


@pytest.mark.parametrize(
    ("paths", "covered", "not_covered"),
    [
        ("api/v1/*", "/api/v1/auth/login", "/api/login"),
        ("api/login", "/api/login/", "/api/logout"),  # exact, outer slashes trimmed as Laravel does
        ("*", "/up", "/nowhere-else-is-left-out"),
        ("http://127.0.0.1:*/api/*", "/api/login", "/graphql"),  # a full-URL entry
    ],
)
async def test_configured_paths(make_client: ClientFactory, paths: str, covered: str, not_covered: str) -> None:
    client = await make_client(cors_paths=paths)
    inside = await client.raw.get(covered, headers={"Origin": "https://spa.test"})
    assert inside.headers.get("Access-Control-Allow-Origin") == "*"
    outside = await client.raw.get(not_covered, headers={"Origin": "https://spa.test"})
    if paths == "*":
        assert outside.headers.get("Access-Control-Allow-Origin") == "*"
    else:
        assert "Access-Control-Allow-Origin" not in outside.headers


# --- settings ----------------------------------------------------------------------------------------


def test_settings_read_lists_as_csv_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", " https://a.test , https://b.test ")
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS_PATTERNS", json.dumps([r"^https://x{1,3}\.test$"]))
    monkeypatch.setenv("CORS_EXPOSED_HEADERS", "")
    monkeypatch.setenv("CORS_MAX_AGE", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_allowed_origins == ["https://a.test", "https://b.test"]
    assert settings.cors_allowed_origins_patterns == [r"^https://x{1,3}\.test$"]
    assert settings.cors_exposed_headers == []
    assert settings.cors_max_age is None
    assert settings.cors_paths == ["api/*", "sanctum/csrf-cookie", "sanctum/token", "graphql"]


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("CORS_ALLOWED_ORIGINS_PATTERNS", "^https://(unclosed", "is not a regex"),
        ("CORS_ALLOWED_ORIGINS", "[not json", "cors_allowed_origins"),
        ("CORS_MAX_AGE", "-1", "cors_max_age"),
    ],
)
def test_bad_cors_settings_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as failure:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert complaint in str(failure.value)
