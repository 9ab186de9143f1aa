"""Bodies that never complete, and bodies over the limit, on a raw socket: the connection is answered
and closed, never held."""

from __future__ import annotations

import asyncio

from tests.conftest import ClientFactory
from tests.support.contract import ContractClient


async def exchange(client: ContractClient, payload: bytes, seconds: float) -> bytes:
    """Send `payload`, then read until the server closes (bounded: a held connection fails here)."""
    port = client.raw.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=seconds)
    finally:
        writer.close()


async def test_a_body_that_never_completes_gets_408_and_a_closed_connection(make_client: ClientFactory) -> None:
    client = await make_client(body_timeout=1)
    head = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    started = asyncio.get_running_loop().time()
    raw = await exchange(client, head + b'{"login":', seconds=5)
    assert asyncio.get_running_loop().time() - started < 4
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.endswith(b" 408 Request Timeout"), raw
    assert b"\r\nConnection: close\r\n" in rest
    assert rest.endswith(b'\r\n\r\n{\n    "message": "Request Timeout."\n}')


async def test_a_declared_huge_body_gets_413_and_a_closed_connection(client: ContractClient) -> None:
    head = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
    raw = await exchange(client, head, seconds=5)
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.endswith(b" 413 Request Entity Too Large"), raw
    assert b"\r\nConnection: close\r\n" in rest
