"""Bytes that are not valid HTTP get a JSON 400 that echoes nothing back, and leave no trace of
the sent secret in the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.contract import ContractClient

SECRET = "7|VerySecretTokenValue0123456789abcdefghijk"
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() + b"\x01\xff\r\n\r\n",
    b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-No-Colon\r\n\r\n",
    b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() + b"x" * 9000 + b"\r\n\r\n",
]


async def _raw_exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    return data


@pytest.mark.parametrize("payload", MALFORMED, ids=["request-line", "header-bytes", "header-token", "header-size"])
async def test_malformed_http_gets_json_400_without_echo(
    client: ContractClient, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = client.raw.server.port
    assert port is not None
    raw = await _raw_exchange(port, payload)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b"400 Bad Request")
    assert b"Content-Type: application/json" in head
    assert body == b'{\n    "message": "Bad Request"\n}'
    assert b"VerySecret" not in raw
    assert "VerySecret" not in caplog.text
