"""openapi.yaml is a valid document, matches the router route for route, is what /api/docs serves,
and the checker that every API test runs through (tests/support/openapi.py) really rejects what it
should."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from jsonschema.exceptions import best_match
from multidict import CIMultiDict, CIMultiDictProxy
from openapi_spec_validator import validate

from sanctum_py.http.docs import DOCS_URL, SPEC_URL, STATIC_URL
from tests.conftest import BACKENDS, ClientFactory
from tests.support.api import bearer, register
from tests.support.contract import ContractClient, WireResponse
from tests.support.openapi import OPERATION_METHODS, check_response, load_spec, resolved_spec, schema_validator

JSON = {"Content-Type": "application/json"}
THROTTLED = {**JSON, "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59"}
USER = {
    "id": 1,
    "name": "Ahmet",
    "surname": "Yılmaz",
    "username": "ahmetyilmaz",
    "email": "ahmet@example.com",
    "email_verified_at": None,
    "created_at": "2024-02-08T18:00:00.000000Z",
    "updated_at": "2024-02-08T18:00:00.000000Z",
}


@pytest.fixture
def backend() -> str:
    """Nothing here depends on the database: run once, on the first configured backend."""
    return BACKENDS[0]


# --- (a) the document itself --------------------------------------------------------------------------


def test_openapi_yaml_is_a_valid_openapi_document() -> None:
    validate(load_spec())  # raises OpenAPIValidationError with the offending pointer


def _examples(node: Any, where: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(location, schema, example) for every example that sits next to a schema."""
    if isinstance(node, dict):
        if "example" in node and "schema" in node:  # a media type object
            yield where, node["schema"], node["example"]
        elif "example" in node and "type" in node:  # a schema object
            yield where, node, node["example"]
        for key, value in node.items():
            yield from _examples(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _examples(item, f"{where}/{index}")


def test_every_example_matches_its_schema() -> None:
    examples = list(_examples(resolved_spec()))
    assert len(examples) > 10
    mismatches = {
        where: error.message
        for where, schema, example in examples
        if (error := best_match(schema_validator(schema).iter_errors(example))) is not None
    }
    assert not mismatches


# --- (b) parity with the router ------------------------------------------------------------------------


def _is_docs(path: str) -> bool:
    return path == DOCS_URL or path.startswith(DOCS_URL + "/")


def _router_api_routes(app: web.Application) -> set[tuple[str, str]]:
    routes = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource is not None}
    served = ("/api/", "/sanctum/", "/up", "/metrics", "/graphql", "/.well-known/", "/oauth/", "/auth/")
    return {(method, path) for method, path in routes if path.startswith(served) and not _is_docs(path)}


def _documented_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in load_spec()["paths"].items()
        for method in item
        if method in OPERATION_METHODS
    }


async def test_router_and_openapi_yaml_list_the_same_operations(client: ContractClient) -> None:
    routes = _router_api_routes(client.app)
    # The twins openapi.yaml describes once, in info.description: each path with a trailing slash. HEAD
    # wherever GET is documented as an operation of its own. Check they are complete, then compare.
    missing_twins = {(m, p + "/") for m, p in routes if not p.endswith("/")} - routes
    missing_twins |= {(m, p[:-1]) for m, p in routes if p.endswith("/")} - routes
    missing_twins |= {("HEAD", p) for m, p in routes if m == "GET"} - routes
    missing_twins |= {("GET", p) for m, p in routes if m == "HEAD"} - routes
    assert not missing_twins, f"routes without their trailing-slash or HEAD twin: {sorted(missing_twins)}"
    canonical = {(m, p) for m, p in routes if not p.endswith("/")}
    documented = _documented_operations()
    # OPTIONS is answered by the router (or the CORS preflight), not by a route: documented on every path
    # but /graphql and /oauth/introspect, whose plain OPTIONS is their dialect's 405 (no 2xx to document;
    # /graphql's preflight is the every-path rule). /auth/forward routes OPTIONS itself (any method).
    options = {(m, p) for m, p in documented if m == "OPTIONS"}
    paths = {p for _, p in canonical}
    assert options == {("OPTIONS", p) for p in paths if p not in ("/graphql", "/oauth/introspect")}
    documented -= options - canonical  # /auth/forward's OPTIONS is a route of its own
    assert not canonical - documented, f"routes openapi.yaml does not document: {sorted(canonical - documented)}"
    assert not documented - canonical, f"openapi.yaml operations the app lacks: {sorted(documented - canonical)}"


# --- (c) the Swagger UI ---------------------------------------------------------------------------------
# The docs pages are outside the API contract (openapi.yaml does not describe itself), so these
# requests go through the raw client, past check_response.


async def test_docs_page_is_swagger_ui_pointing_at_the_spec(client: ContractClient) -> None:
    async with client.raw.get(DOCS_URL) as response:
        page = await response.text()
        assert (response.status, response.content_type) == (200, "text/html")
    assert 'id="swagger-ui"' in page
    assert f'url: "{SPEC_URL}"' in page
    async with client.raw.get(f"{STATIC_URL}/swagger-ui-bundle.js") as asset:
        assert asset.status == 200
        assert len(await asset.read()) > 100_000


@pytest.mark.parametrize("name", ["missing.js", "..%2Fdocs.py", "%2E%2E%2F%2E%2E%2Fsettings.py", "index.html%00"])
async def test_docs_assets_serve_only_the_bundled_files(client: ContractClient, name: str) -> None:
    async with client.raw.get(f"{STATIC_URL}/{name}") as response:
        assert response.status == 404
        assert await response.read() == b'{\n    "message": ""\n}'  # Laravel's 404, as on any unknown path


async def test_swagger_json_is_openapi_yaml(client: ContractClient) -> None:
    async with client.raw.get(SPEC_URL) as response:
        assert (response.status, response.content_type) == (200, "application/json")
        served = json.loads(await response.read())
    assert served == load_spec()


async def test_docs_are_neither_authenticated_nor_rate_limited(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2)
    for _ in range(5):
        async with client.raw.get(SPEC_URL) as response:
            assert response.status == 200
            assert "X-RateLimit-Limit" not in response.headers


# --- (d) the checker rejects what it should, and accepts real responses of every kind ---------------------


def _wire(method: str, path: str, status: int, headers: dict[str, str], body: Any) -> WireResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WireResponse(method, path, status, CIMultiDictProxy(CIMultiDict(headers)), raw)


def test_checker_accepts_a_well_formed_response() -> None:
    check_response(_wire("GET", "/api/me/?x=1", 200, THROTTLED, USER))
    check_response(_wire("HEAD", "/api/me", 200, THROTTLED, b""))


@pytest.mark.parametrize(
    ("response", "complaint"),
    [
        pytest.param(_wire("GET", "/api/me", 200, THROTTLED, {"id": 1}), "is a required property", id="missing-keys"),
        pytest.param(
            _wire("GET", "/api/me", 200, THROTTLED, {**USER, "password": "x"}),
            "Additional properties",
            id="extra-key",
        ),
        pytest.param(
            _wire("GET", "/api/me", 200, THROTTLED, {**USER, "created_at": "2024-02-08 18:00:00"}),
            "does not match",
            id="timestamp-format",
        ),
        pytest.param(
            _wire(
                "POST",
                "/api/login",
                200,
                {**THROTTLED, "Cache-Control": "no-store"},
                {"data": USER, "access_token": "no-id-here", "token_type": "Bearer"},
            ),
            "does not match",
            id="token-without-id",
        ),
        pytest.param(
            _wire("POST", "/api/login", 200, THROTTLED, {"data": USER, "access_token": "1|x", "token_type": "Bearer"}),
            "header Cache-Control is required",
            id="token-without-no-store",
        ),
        pytest.param(
            _wire("POST", "/api/logout", 422, THROTTLED, {"message": "The given data was invalid.", "errors": {}}),
            "status 422 is not documented",
            id="undocumented-status",
        ),
        pytest.param(_wire("GET", "/api/nothing", 200, JSON, {}), "only 404 is allowed", id="undocumented-path"),
        pytest.param(_wire("DELETE", "/api/me", 404, JSON, {"message": ""}), "only 405", id="404-on-known-path"),
        pytest.param(
            _wire(
                "GET",
                "/api/login",
                405,
                {**JSON, "Allow": "GET, POST"},
                {"message": "The GET method is not supported for this route. Supported methods: GET, POST."},
            ),
            "Allow should be 'POST'",
            id="wrong-allow",
        ),
        pytest.param(
            _wire("GET", "/api/me", 401, {**THROTTLED}, {"message": "Unauthenticated."}),
            "carries X-RateLimit-Limit",
            id="throttle-headers-on-401",
        ),
        pytest.param(_wire("GET", "/api/me", 200, JSON, USER), "header X-RateLimit-Limit is required", id="no-limit"),
        pytest.param(
            _wire("GET", "/api/me", 200, {**THROTTLED, "X-RateLimit-Remaining": "many"}, USER),
            "not an integer",
            id="bad-header-value",
        ),
        pytest.param(
            _wire("GET", "/api/me", 200, {**THROTTLED, "Content-Type": "text/html"}, USER),
            "Content-Type is 'text/html'",
            id="content-type",
        ),
        pytest.param(_wire("GET", "/api/me", 200, THROTTLED, b"<html>"), "not JSON", id="not-json"),
        pytest.param(_wire("HEAD", "/api/me", 200, THROTTLED, USER), "HEAD response must not carry a body", id="head"),
        pytest.param(_wire("OPTIONS", "/api/me", 204, {}, b"{}"), "documents no body", id="preflight-with-body"),
        pytest.param(
            _wire("OPTIONS", "/api/me", 200, {"Allow": "GET"}, b""),
            "Allow should be 'GET,HEAD'",
            id="options-allow",
        ),
    ],
)
def test_checker_rejects(response: WireResponse, complaint: str) -> None:
    with pytest.raises(AssertionError, match=r"openapi\.yaml contract") as failure:
        check_response(response)
    assert complaint in str(failure.value)


async def test_routing_level_responses_pass_the_contract(make_client: ClientFactory) -> None:
    """Real responses of every rule that holds on every path: ContractClient checks each one."""
    client = await make_client(max_body_bytes=1024)
    assert (await client.get("/api/nothing")).status == 404
    assert (await client.request("HEAD", "/api/nothing")).status == 404
    assert (await client.get("/api/login")).status == 405
    assert (await client.request("HEAD", "/api/login")).status == 405
    assert (await client.delete("/api/me/")).status == 405
    assert (await client.request("OPTIONS", "/api/me")).status == 200
    assert (await client.request("OPTIONS", "/api/nothing")).status == 404
    preflight = {"Origin": "http://spa.test", "Access-Control-Request-Method": "POST"}
    assert (await client.request("OPTIONS", "/api/anything", headers=preflight)).status == 204
    assert (await client.post("/api/login", data=b"x" * 2048, headers=JSON)).status == 413
    assert (await client.request("HEAD", "/api/me")).status == 401
    token = (await register(client)).json()["access_token"]
    assert (await client.request("HEAD", "/api/me/", headers=bearer(token))).status == 200
    assert (await client.post("/api/logout/", headers=bearer(token))).status == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nothing%0A", 404),
        ("POST", "/api/email/verify/1%0A/x", 405),  # the route's {id} takes a newline; the catch-all must too
        ("OPTIONS", "/api/email/verify/1%0A/x", 200),
        ("GET", "/api/v1/auth/me%0A", 404),
        ("PUT", "/api/auth/me%0A", 404),
        ("GET", "/graphql%0A", 404),
    ],
)
async def test_a_newline_in_the_path_is_answered_by_its_dialect(
    client: ContractClient, method: str, path: str, status: int
) -> None:
    """Found by fuzzing the OPTIONS operations: a decoded %0A escaped the catch-all route (`.*`), and aiohttp
    answered its own text/plain 404/405 with its version in `Server`. ContractClient checks each shape."""
    response = await client.request(method, path)
    assert response.status == status
    assert response.headers["Server"] == "sanctum_py"
