"""`Authorization` values with non-ASCII text before the scheme, sent as raw bytes: the token is what
follows the last `Bearer ` (any ASCII case), exactly as Laravel's byte-wise strrpos finds it, however
Unicode case mapping would change the length of what precedes it."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import register
from tests.support.contract import ContractClient


async def raw_me(client: ContractClient, authorization: bytes) -> bytes:
    port = client.raw.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = b"GET /api/me HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n"
        writer.write(request + b"Authorization: " + authorization + b"\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("\u0130Bearer ", b"200 OK"),  # "İ".lower() is two characters
        ("\u0130\u0130\u0130 bearer ", b"200 OK"),
        ("\u0130BEARER x, \u0130Bearer ", b"200 OK"),  # the last scheme wins
        ("\u1e9eBearer ", b"200 OK"),  # capital sharp s
        ("Bearer \u0130", b"401 Unauthorized"),  # the İ is part of the token
        ("\u0130Bear\u0130er ", b"401 Unauthorized"),
        ("\u212aBearer ", b"200 OK"),  # Kelvin sign lower-cases to an ASCII "k"
    ],
)
async def test_text_before_the_scheme_does_not_move_the_cut(
    client: ContractClient, prefix: str, expected: bytes
) -> None:
    token = (await register(client)).json()["access_token"]
    reply = await raw_me(client, prefix.encode() + token.encode())
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.endswith(expected), reply
    if expected == b"200 OK":
        assert b'"username":"ahmetyilmaz"' in reply
