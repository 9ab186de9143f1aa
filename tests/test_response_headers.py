"""Headers every response carries (nosniff, a Server header without versions), `no-store` on every
response of a signed-in route, and the docs page's framing and content policy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re

from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS, bearer, register
from tests.support.contract import ContractClient, WireResponse

SERVER = "sanctum_py"


def assert_common(response: WireResponse) -> None:
    assert response.headers.get("X-Content-Type-Options") == "nosniff", (response.method, response.path)
    assert response.headers.get("Server") == SERVER, (response.method, response.path)


async def test_every_response_carries_nosniff_and_a_server_without_versions(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=1024)
    token = (await register(client)).json()["access_token"]
    responses = [
        await client.get("/up"),
        await client.post("/api/login", json={}, headers=JSON_HEADERS),  # 422
        await client.get("/api/me", headers=bearer(token)),
        await client.get("/api/me"),  # 401
        await client.get("/api/nothing-here"),  # 404
        await client.delete("/api/me"),  # 405
        await client.post("/api/login", data=b"x" * 2000, headers=JSON_HEADERS),  # 413
        await client.request("OPTIONS", "/api/login", headers={"Access-Control-Request-Method": "POST"}),
    ]
    for response in responses:
        assert_common(response)


async def test_malformed_http_carries_them_too(client: ContractClient) -> None:
    port = client.raw.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GARBAGE\r\n\r\n")
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    head = raw.partition(b"\r\n\r\n")[0].decode()
    assert head.split(" ")[1] == "400"
    assert "\r\nX-Content-Type-Options: nosniff" in head
    assert f"\r\nServer: {SERVER}\r\n" in head


async def test_signed_in_routes_are_never_stored(client: ContractClient) -> None:
    token = (await register(client)).json()["access_token"]
    for path in ("/api/me", "/api/tokens"):
        response = await client.get(path, headers=bearer(token))
        assert response.status == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    assert (await client.get("/api/me")).headers["Cache-Control"] == "no-store"  # the route's 401 too
    assert "Cache-Control" not in (await client.get("/up")).headers


async def test_the_docs_page_cannot_be_framed_and_runs_only_its_own_scripts(client: ContractClient) -> None:
    async with client.raw.get("/api/docs") as response:
        page = await response.text()
        headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
