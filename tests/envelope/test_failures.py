"""Every failure under /api/auth/ in the failure envelope with the right `type`, never a 500 and never a
Laravel body: validation of every field with codes, throttles (429 + Retry-After), unknown routes (404),
wrong methods (405), malformed JSON (400), huge bodies (413), a database outage (503); and every core
ErrorCode has an answer in the envelope's renderer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sanctum_py.app import create_app
from sanctum_py.core.errors import ErrorCode
from sanctum_py.http.envelope import render
from sanctum_py.settings import Settings
from tests.conftest import TEST_APP_KEY
from tests.envelope.helpers import BASE, expect, failed, field, login, post, register, registered
from tests.support.contract import ContractClient

ClientFactory = Any
INVALID = "Doğrulama hatası"


def test_every_error_code_has_an_envelope_answer() -> None:
    assert set(render._ANSWERS) == set(ErrorCode)
    assert [code for code, (status, _, _) in render._ANSWERS.items() if status >= 500] == [
        ErrorCode.SERVICE_UNAVAILABLE,
        ErrorCode.INTERNAL,
    ]


REGISTER_CASES = [
    (
        {"tenantId": ..., "username": ..., "email": ..., "password": ..., "role": ...},
        [
            field("username", "REQUIRED", "username alanı zorunludur"),
            field("email", "REQUIRED", "email alanı zorunludur"),
            field("password", "REQUIRED", "password alanı zorunludur"),
        ],
    ),
    (
        {"tenantId": "not-a-uuid", "email": "nope", "password": "kisa", "role": "root", "firstName": 5},
        [
            field("tenantId", "INVALID_FORMAT", "tenantId geçerli bir UUID olmalıdır"),
            field("email", "INVALID_FORMAT", "email geçerli bir e-posta adresi olmalıdır"),
            field("password", "TOO_SHORT", "password en az 8 karakter olmalıdır"),
            field("role", "INVALID_VALUE", "role şunlardan biri olmalıdır: admin, staff, user"),
            field("firstName", "INVALID_TYPE", "firstName metin olmalıdır"),
        ],
    ),
    (
        {"username": "u" * 256, "password": "ş" * 40, "lastName": "a\x00b"},
        [
            field("username", "TOO_LONG", "username en fazla 255 karakter olabilir"),
            field("password", "TOO_LONG", "password en fazla 72 bayt olabilir"),
            field("lastName", "INVALID_FORMAT", "lastName geçersiz karakterler içeriyor"),
        ],
    ),
]


@pytest.mark.parametrize(("fields", "errors"), REGISTER_CASES)
async def test_register_validation_lists_every_field_with_a_code(
    client: ContractClient, fields: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    expect(await register(client, **fields), 422, failed("VALIDATION_ERROR", INVALID, f"{BASE}/register", errors))


async def test_login_validation(client: ContractClient) -> None:
    response = await post(client, "login", {"username": ["x"], "rememberMe": "yes"})
    errors = [
        field("username", "INVALID_TYPE", "username metin olmalıdır"),
        field("password", "REQUIRED", "password alanı zorunludur"),
        field("rememberMe", "INVALID_TYPE", "rememberMe true veya false olmalıdır"),
    ]
    expect(response, 422, failed("VALIDATION_ERROR", INVALID, f"{BASE}/login", errors))


async def test_malformed_json_and_non_objects_are_400(client: ContractClient) -> None:
    expected = failed("VALIDATION_ERROR", "İstek gövdesi geçerli bir JSON nesnesi değil", f"{BASE}/login")
    for raw in (b"{not json", b"[1, 2]", b'"text"'):
        response = await client.post(f"{BASE}/login", data=raw, headers={"Content-Type": "application/json"})
        expect(response, 400, expected)


async def test_unknown_routes_and_wrong_methods(client: ContractClient) -> None:
    expect(await client.get(f"{BASE}/nowhere"), 404, failed("NOT_FOUND_ERROR", "Bulunamadı", f"{BASE}/nowhere"))
    expect(await client.post(f"{BASE}/"), 404, failed("NOT_FOUND_ERROR", "Bulunamadı", f"{BASE}/"))
    response = await client.get(f"{BASE}/login")
    expect(response, 405, failed("NOT_FOUND_ERROR", "Bu istek yöntemi desteklenmiyor", f"{BASE}/login"))
    assert response.headers["Allow"] == "POST"
    response = await client.delete(f"{BASE}/me")
    expect(response, 405, failed("NOT_FOUND_ERROR", "Bu istek yöntemi desteklenmiyor", f"{BASE}/me"))
    assert response.headers["Allow"] == "GET, HEAD"


async def test_huge_bodies_are_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=1024)
    response = await client.post(f"{BASE}/register", json={"username": "x" * 4096})
    expect(response, 413, failed("VALIDATION_ERROR", "İstek gövdesi çok büyük", f"{BASE}/register"))


async def test_login_throttle_is_a_rate_limit_envelope(client: ContractClient) -> None:
    await registered(client)
    for _ in range(5):
        assert (await login(client, password="Yanlis12345")).status == 401
    response = await login(client, password="Yanlis12345")
    assert response.status == 429, response.text
    retry_after = response.headers["Retry-After"]
    assert 0 < int(retry_after) <= 60
    message = f"Çok fazla deneme. Lütfen {retry_after} saniye sonra tekrar deneyin"
    expect(response, 429, failed("RATE_LIMIT_ERROR", message, f"{BASE}/login"))
    assert response.headers["X-RateLimit-Remaining"] == "0"


async def test_a_database_outage_is_503(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]],
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="postgres://postgres@127.0.0.1:1/none", app_key=TEST_APP_KEY
    )
    client = ContractClient(await aiohttp_client(create_app(settings)))
    for route, body in (
        ("login", {"username": "ayse", "password": "Sifre12345!"}),
        ("refresh", {"refreshToken": "1|x"}),
    ):
        response = await post(client, route, body)
        expect(response, 503, failed("SERVICE_UNAVAILABLE", "Hizmet geçici olarak kullanılamıyor", f"{BASE}/{route}"))
        assert response.headers["Retry-After"] == "5"
    response = await client.get(
        f"{BASE}/me", headers={"Authorization": "Bearer 1|abcdefghijklmnopqrstuvwxyz0123456789ABCD"}
    )
    assert response.status == 503, response.text
