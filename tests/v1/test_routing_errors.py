"""Rules that hold on every v1 path, in v1's shape: 404, 405 + Allow, 413."""

from __future__ import annotations

import pytest

from tests.conftest import ClientFactory
from tests.support.contract import ContractClient
from tests.v1.helpers import NOT_ALLOWED, NOT_FOUND, TOO_LARGE, expect


@pytest.mark.parametrize("path", ["/api/v1/auth/nope", "/api/v1/whatever"])
async def test_unknown_v1_paths_are_404(client: ContractClient, path: str) -> None:
    for method in ("GET", "POST"):
        expect(await client.request(method, path), 404, NOT_FOUND)


@pytest.mark.parametrize(("method", "path", "allow"), [("GET", "login", "POST"), ("POST", "me", "GET, HEAD")])
async def test_wrong_method_is_405_with_allow(client: ContractClient, method: str, path: str, allow: str) -> None:
    response = await client.request(method, f"/api/v1/auth/{path}")
    expect(response, 405, NOT_ALLOWED)
    assert response.headers["Allow"] == allow


async def test_a_body_over_max_body_bytes_is_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=1024)
    body = b'{"username": "' + b"x" * 2000 + b'"}'
    response = await client.post("/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    expect(response, 413, TOO_LARGE)
