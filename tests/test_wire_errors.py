"""What Laravel's router, exception handler, ValidatePostSize, ThrottleRequests and HandleCors put on the
wire: 404, 405, 413, 429, CORS, and no 500 for anything a client can send."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from tests.conftest import REDIS_URL, ClientFactory
from tests.support.api import JSON_HEADERS, login, register, registration
from tests.support.contract import ContractClient, WireResponse

NOT_FOUND = b'{\n    "message": ""\n}'
TOO_MANY = b'{\n    "message": "Too Many Attempts."\n}'
UNAUTHENTICATED = b'{"message":"Unauthenticated."}'


def not_allowed(method: str, allowed: str) -> bytes:
    message = f"The {method} method is not supported for this route. Supported methods: {allowed}."
    return f'{{\n    "message": "{message}"\n}}'.encode()


def assert_no_throttle_headers(response: WireResponse) -> None:
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"):
        assert header not in response.headers, header


# --- 404 / 405 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/unknown"),
        ("POST", "/api/unknown"),
        ("GET", "/api/me/extra"),
        ("POST", "/api/register/x"),
        ("GET", "/api/Me"),  # routes are case-sensitive
        ("DELETE", "/api/tokens/1/extra"),
        ("GET", "/api/"),
    ],
)
async def test_unknown_api_route(client: ContractClient, method: str, path: str) -> None:
    response = await client.request(method, path, headers=JSON_HEADERS)
    assert response.status == 404
    assert response.body == NOT_FOUND
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert_no_throttle_headers(response)


@pytest.mark.parametrize("path", ["/", "/nope", "/api", "/API/me"])
async def test_unknown_route_outside_api_has_no_cors(client: ContractClient, path: str) -> None:
    response = await client.get(path, headers=JSON_HEADERS)
    assert response.status == 404
    assert response.body == NOT_FOUND
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/login", "POST"),
        ("GET", "/api/register", "POST"),
        ("GET", "/api/logout", "POST"),
        ("PUT", "/api/login", "POST"),
        ("PATCH", "/api/register", "POST"),
        ("DELETE", "/api/logout", "POST"),
        ("POST", "/api/me", "GET, HEAD"),
        ("PUT", "/api/me", "GET, HEAD"),
        ("DELETE", "/api/me", "GET, HEAD"),
        ("GET", "/api/login/", "POST"),
    ],
)
async def test_method_not_allowed(client: ContractClient, method: str, path: str, allowed: str) -> None:
    response = await client.request(method, path, headers=JSON_HEADERS)
    assert response.status == 405
    assert response.body == not_allowed(method, allowed)
    assert response.headers["Allow"] == allowed
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert_no_throttle_headers(response)


async def test_head_on_a_post_route(client: ContractClient) -> None:
    response = await client.request("HEAD", "/api/login")
    assert (response.status, response.body, response.headers["Allow"]) == (405, b"", "POST")


async def test_405_does_not_authenticate_or_count(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2)
    for _ in range(5):
        assert (await client.get("/api/login")).status == 405
        assert (await client.post("/api/me", headers={"Authorization": "Bearer nope"})).status == 405
    response = await client.post("/api/login", json={}, headers=JSON_HEADERS)
    assert (response.status, response.headers["X-RateLimit-Remaining"]) == (422, "1")


@pytest.mark.parametrize(("path", "allow"), [("/api/login", "POST"), ("/api/me", "GET,HEAD")])
async def test_options_without_preflight_headers(client: ContractClient, path: str, allow: str) -> None:
    # Laravel's router answers a plain OPTIONS itself: 200, empty, Allow joined by "," alone.
    response = await client.request("OPTIONS", path)
    assert response.status == 200
    assert response.body == b""
    assert response.headers["Allow"] == allow
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Vary"] == "Access-Control-Request-Method"
    assert_no_throttle_headers(response)


async def test_options_on_an_unknown_route(client: ContractClient) -> None:
    response = await client.request("OPTIONS", "/api/unknown")
    assert (response.status, response.body) == (404, NOT_FOUND)


# --- 413 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/register"), ("POST", "/api/login"), ("POST", "/api/unknown"), ("GET", "/api/me")],
)
async def test_body_over_the_limit(make_client: ClientFactory, method: str, path: str) -> None:
    client = await make_client(max_body_bytes=1024)
    body = b'{"name": "' + b"x" * 2000 + b'"}'
    response = await client.request(
        method, path, data=body, headers={**JSON_HEADERS, "Content-Type": "application/json"}
    )
    assert response.status == 413
    assert response.body == NOT_FOUND  # {"message": ""}, pretty-printed
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert_no_throttle_headers(response)


async def test_body_at_the_limit_is_read(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=1024)
    body = b'{"login": "' + b"x" * 900 + b'", "password": "password123"}'
    body += b" " * (1024 - len(body))
    response = await client.post("/api/login", data=body, headers={**JSON_HEADERS, "Content-Type": "application/json"})
    assert response.status == 422
    assert response.json()["errors"] == {"login": ["Invalid credentials."]}


async def test_chunked_body_over_the_limit(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=1024)

    async def chunks():
        for _ in range(4):
            yield b"x" * 512

    response = await client.post(
        "/api/register", data=chunks(), headers={**JSON_HEADERS, "Content-Type": "application/json"}
    )
    assert response.status == 413
    assert response.body == NOT_FOUND


# --- no 500 for anything a client sends ------------------------------------------------------------


def typed(content_type: str, body: bytes) -> dict[str, Any]:
    return {"data": body, "headers": {"Content-Type": content_type}}


def as_json(body: bytes) -> dict[str, Any]:
    return typed("application/json", body)


def as_form(body: bytes) -> dict[str, Any]:
    return typed("application/x-www-form-urlencoded", body)


def bearer(value: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {value}"}}


MULTIPART = "multipart/form-data; boundary=x"
BAD_PART = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--x--\r\n'

HOSTILE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/register", as_json(b"\x00\xff\xfe" * 100)),
    ("POST", "/api/register", typed("multipart/form-data", b"\x00\xff\xfe" * 100)),
    ("POST", "/api/register", typed(MULTIPART, b"--x\r\n\r\n")),
    ("POST", "/api/register", typed(MULTIPART, BAD_PART)),
    ("POST", "/api/register", as_form(b"name[a][b][c]=1&name[=2&]=3&&=&%=%&name[]")),
    ("POST", "/api/register", as_form(b"%" * 1000)),
    ("POST", "/api/register", as_json(b"[" * 100_000)),
    ("POST", "/api/register", as_json(b'{"a":' * 5000 + b"1" + b"}" * 5000)),
    ("POST", "/api/register", as_json(b'{"name": 1' + b"0" * 5000 + b"}")),
    ("POST", "/api/register", as_json(b'{"name": 1e999, "email": -1e999}')),
    ("POST", "/api/register", as_json(b'{"name": "\\udc00\\ud800"}')),
    ("POST", "/api/register", as_json(b'{"email": "\\u0000@x.com", "username": "\\u0000"}')),
    ("POST", "/api/register?name[]=1&email[x]=2&%ff=%ff&password=%00", {}),
    ("POST", "/api/register", as_json(b'{"username": ["a\\u0000b"], "email": {"x": "\\u0000@x.com"}}')),
    ("POST", "/api/register", as_form(b"username[]=%FF%FE&email[]=a%00b%40x.com&name[][]=%ED%A0%80")),
    ("POST", "/api/login", as_json(b'{"login": {"$ne": null}, "password": {"$gt": ""}}')),
    ("POST", "/api/login", as_json(b'{"login": "\\ud83d", "password": "x"}')),
    ("POST", "/api/login", as_form(b"login=%ff&password=%ff%00")),
    ("POST", "/api/login", as_json(b'{"login": "' + "ş".encode() * 5000 + b'", "password": "x"}')),
    ("POST", "/api/login", typed("application/json; charset=latin-1", b"{}")),
    ("GET", "/api/me", bearer("1|" + "\u00ff" * 100)),
    ("GET", "/api/me", bearer("|" * 100)),
    ("GET", "/api/me", bearer("18446744073709551616|x")),
    ("GET", "/api/me", bearer("1e3|x")),
    ("GET", "/api/me", bearer("' OR 1=1 --|x")),
    ("GET", "/api/me?x=%ff%00", bearer("1|~`^{}[]")),
    ("POST", "/api/logout", bearer("1|" + "x" * 8000)),
    ("GET", "/api/%ff%00", {}),
    ("GET", "/api/..%2f..%2fetc/passwd", {}),
    ("PROPFIND", "/api/me", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), HOSTILE)
async def test_hostile_input_never_gets_a_500(client: ContractClient, method: str, path: str, kwargs: dict) -> None:
    await register(client)
    response = await client.request(method, path, **kwargs)
    assert response.status in (401, 404, 405, 413, 422), (response.status, response.text)
    assert response.headers["Content-Type"] == "application/json"
    assert response.text.startswith("{") and '"message"' in response.text


# --- throttle ------------------------------------------------------------------------------------


def assert_too_many(response: WireResponse, limit: int) -> None:
    assert response.status == 429
    assert response.body == TOO_MANY
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert abs(int(response.headers["X-RateLimit-Reset"]) - (int(time.time()) + retry_after)) <= 2


async def test_the_request_after_the_limit_is_429(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=3)
    remaining = []
    for _ in range(3):
        response = await client.post("/api/login", json={}, headers=JSON_HEADERS)
        assert response.status == 422
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert "X-RateLimit-Reset" not in response.headers and "Retry-After" not in response.headers
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    for _ in range(2):  # refused attempts are not counted, and keep being refused
        assert_too_many(await client.post("/api/login", json={}, headers=JSON_HEADERS), 3)


async def test_register_and_login_share_the_address_budget(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=3)
    assert (await register(client)).headers["X-RateLimit-Remaining"] == "2"
    assert (await login(client, "ahmetyilmaz", "password123")).headers["X-RateLimit-Remaining"] == "1"
    third = await client.post("/api/register", json=registration(), headers=JSON_HEADERS)
    assert (third.status, third.headers["X-RateLimit-Remaining"]) == (422, "0")
    assert_too_many(await login(client, "ahmetyilmaz", "password123"), 3)
    assert_too_many(await client.post("/api/register", json=registration(username="x"), headers=JSON_HEADERS), 3)


async def test_signed_in_requests_are_counted_per_user(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=3)
    first = (await register(client)).json()["access_token"]
    second = (await login(client, "ahmetyilmaz", "password123")).json()["access_token"]
    other = (await register(client, username="other", email="other@example.com")).json()["access_token"]
    # the address budget is spent now, the users' budgets are untouched
    assert_too_many(await client.post("/api/login", json={}, headers=JSON_HEADERS), 3)

    remaining = []
    for token in (first, second, first):
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]  # two tokens of one user share one bucket
    assert_too_many(await client.get("/api/me", headers={"Authorization": f"Bearer {second}"}), 3)
    assert_too_many(await client.post("/api/logout", headers={"Authorization": f"Bearer {first}"}), 3)

    response = await client.get("/api/me", headers={"Authorization": f"Bearer {other}"})
    assert (response.status, response.headers["X-RateLimit-Remaining"]) == (200, "2")


async def test_failed_authentication_is_not_counted(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=3)
    for _ in range(10):
        response = await client.get("/api/me", headers={"Authorization": "Bearer 1|wrong"})
        assert response.status == 401
        assert_no_throttle_headers(response)
    for _ in range(3):
        assert (await client.get("/api/unknown")).status == 404
    response = await client.post("/api/login", json={}, headers=JSON_HEADERS)
    assert response.headers["X-RateLimit-Remaining"] == "2"


async def test_throttled_user_still_gets_401_for_a_bad_token(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=1)
    token = (await register(client)).json()["access_token"]
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status == 200
    assert_too_many(await client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 1)
    response = await client.get("/api/me", headers={"Authorization": "Bearer nope"})
    assert (response.status, response.body) == (401, UNAUTHENTICATED)


async def test_an_inner_limiter_keeps_its_own_headers(make_client: ClientFactory) -> None:
    # The login throttle refuses inside the api throttle: as with nested ThrottleRequests, the outer
    # limiter does not overwrite headers that already report fewer remaining attempts.
    client = await make_client(login_max_attempts=1)
    first = await login(client, "nobody", "wrong-password")
    assert (first.status, first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == (
        422,
        "60",
        "59",
    )
    assert_too_many(await login(client, "nobody", "wrong-password"), 1)


async def test_limit_is_shared_through_redis_by_two_app_instances(make_client: ClientFactory) -> None:
    prefix = f"sanctum_wire_{secrets.token_hex(4)}:"
    one = await make_client(redis_url=REDIS_URL, redis_prefix=prefix, api_rate_limit=3)
    two = await make_client(redis_url=REDIS_URL, redis_prefix=prefix, api_rate_limit=3)
    token = (await register(one)).json()["access_token"]  # address budget: 2 left
    response = await two.post("/api/login", json={}, headers=JSON_HEADERS)
    assert (response.status, response.headers["X-RateLimit-Remaining"]) == (422, "1")
    assert (await one.post("/api/login", json={}, headers=JSON_HEADERS)).headers["X-RateLimit-Remaining"] == "0"
    assert_too_many(await two.post("/api/login", json={}, headers=JSON_HEADERS), 3)
    assert_too_many(await one.post("/api/login", json={}, headers=JSON_HEADERS), 3)

    authorization = {"Authorization": f"Bearer {token}"}
    assert [
        (await app.get("/api/me", headers=authorization)).headers["X-RateLimit-Remaining"] for app in (one, two, one)
    ] == ["2", "1", "0"]
    assert_too_many(await two.get("/api/me", headers=authorization), 3)


async def test_redis_limit_under_concurrency(make_client: ClientFactory) -> None:
    client = await make_client(redis_url=REDIS_URL, api_rate_limit=5)
    responses = await asyncio.gather(*(client.post("/api/login", json={}, headers=JSON_HEADERS) for _ in range(12)))
    statuses = sorted(response.status for response in responses)
    assert statuses == [422] * 5 + [429] * 7


async def test_memory_limit_under_concurrency(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=5)
    responses = await asyncio.gather(*(client.post("/api/login", json={}, headers=JSON_HEADERS) for _ in range(12)))
    assert sorted(response.status for response in responses) == [422] * 5 + [429] * 7


# --- CORS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [None, "https://app.example.com"])
async def test_actual_responses_allow_any_origin(client: ContractClient, origin: str | None) -> None:
    headers = {**JSON_HEADERS, **({"Origin": origin} if origin else {})}
    for response in (
        await client.post("/api/register", json=registration(), headers=headers),
        await client.post("/api/login", json={}, headers=headers),
        await client.get("/api/me", headers=headers),
        await client.get("/api/unknown", headers=headers),
        await client.get("/api/login", headers=headers),
    ):
        assert response.headers["Access-Control-Allow-Origin"] == "*", response.status
        assert "Vary" not in response.headers
        assert "Access-Control-Allow-Methods" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers


async def test_429_carries_cors(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=1)
    await client.post("/api/login", json={}, headers=JSON_HEADERS)
    response = await client.post("/api/login", json={}, headers={**JSON_HEADERS, "Origin": "https://x.test"})
    assert response.status == 429
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("path", "request_headers", "allow_methods", "allow_headers"),
    [
        ("/api/login", {"Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type,authorization"}, "POST",
         "content-type,authorization"),
        ("/api/me", {"Access-Control-Request-Method": "get",
                     "Access-Control-Request-Headers": "Authorization, X-Requested-With"}, "GET",
         "Authorization, X-Requested-With"),
        ("/api/unknown", {"Access-Control-Request-Method": "DELETE"}, "DELETE", ""),  # any api/* path
        ("/api/login", {"Access-Control-Request-Method": "PUT"}, "PUT", ""),  # allowed_methods: ['*']
    ],
)  # fmt: skip
async def test_preflight(
    client: ContractClient, path: str, request_headers: dict[str, str], allow_methods: str, allow_headers: str
) -> None:
    # stack-cors 2 with the stock config/cors.php: origins, methods and headers '*', max_age 0.
    response = await client.request("OPTIONS", path, headers={"Origin": "https://app.example.com", **request_headers})
    assert response.status == 204
    assert response.body == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == allow_methods
    assert response.headers.get("Access-Control-Allow-Headers", "") == allow_headers
    assert response.headers["Access-Control-Max-Age"] == "0"
    assert response.headers["Vary"] == "Access-Control-Request-Method, Access-Control-Request-Headers"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Content-Type" not in response.headers
    assert_no_throttle_headers(response)


async def test_preflight_needs_no_origin_and_no_token(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=1)
    for _ in range(3):  # never authenticated, never throttled
        response = await client.request("OPTIONS", "/api/me", headers={"Access-Control-Request-Method": "GET"})
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert (await client.post("/api/login", json={}, headers=JSON_HEADERS)).headers["X-RateLimit-Remaining"] == "0"


async def test_preflight_is_answered_before_the_body_size_check(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=16)
    response = await client.request(
        "OPTIONS", "/api/register", data=b"x" * 100, headers={"Access-Control-Request-Method": "POST"}
    )
    assert response.status == 204


async def test_no_cors_outside_api(client: ContractClient) -> None:
    response = await client.request("OPTIONS", "/nope", headers={"Access-Control-Request-Method": "GET"})
    assert response.status == 404
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("configured", "origin", "expected_origin", "vary"),
    [
        ("https://a.test", "https://a.test", "https://a.test", None),  # a single origin: sent as is
        ("https://a.test", "https://evil.test", "https://a.test", None),
        ("https://a.test,https://b.test", "https://b.test", "https://b.test", "Origin"),
        ("https://a.test,https://b.test", "https://evil.test", None, "Origin"),
        ("https://a.test,https://b.test", None, None, "Origin"),
    ],
)
async def test_configured_origins(
    make_client: ClientFactory, configured: str, origin: str | None, expected_origin: str | None, vary: str | None
) -> None:
    client = await make_client(cors_allowed_origins=configured)
    headers = {**JSON_HEADERS, **({"Origin": origin} if origin else {})}
    response = await client.post("/api/login", json={}, headers=headers)
    assert response.headers.get("Access-Control-Allow-Origin") == expected_origin
    assert response.headers.get("Vary") == vary
    preflight = await client.request(
        "OPTIONS", "/api/login", headers={**headers, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204
    assert preflight.headers.get("Access-Control-Allow-Origin") == expected_origin
    if expected_origin is None:
        assert "Access-Control-Allow-Methods" not in preflight.headers
        assert preflight.headers["Vary"] == "Origin, Access-Control-Request-Method"
    else:
        assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
        assert preflight.headers["Vary"].endswith("Access-Control-Request-Method, Access-Control-Request-Headers")


# --- Cache-Control -------------------------------------------------------------------------------


async def test_token_bearing_and_signed_in_responses_are_no_store(client: ContractClient) -> None:
    registered = await register(client)
    signed_in = await login(client, "ahmetyilmaz", "password123")
    assert registered.headers["Cache-Control"] == "no-store"
    assert signed_in.headers["Cache-Control"] == "no-store"
    token = signed_in.json()["access_token"]
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.headers.get("Cache-Control") == "no-store"  # deliberate: personal data (Laravel: no-cache, private)
