"""A TCP proxy a test controls, to put a real outage between the service and a real server.

Two failure modes, because a service survives them differently:

- `cut("reset")`: every open connection is closed and the listening socket with it, so new
  connections are refused at once (the server crashed or was restarted). Failures are instant.
- `cut("blackhole")`: a network partition. Open connections stay open but nothing crosses them,
  and new connections are accepted and never answered. Only the service's own timeouts end a
  request then: this is the mode that proves no request hangs.

`restore()` ends either. A partition heals as TCP would: bytes held during it are delivered, in
order, to whichever side is still listening; a connection accepted during it reaches the server then.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["reset", "blackhole"]
CHUNK = 64 * 1024
TAIL = 16


@dataclass
class Link:
    """One client connection through the proxy, as the proxy saw it."""

    client_tail: bytes = b""  # the last bytes the client sent: a protocol's goodbye, if it said one
    closed: bool = False


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.links: list[Link] = []  # every connection accepted, cut or not
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._clients: set[asyncio.StreamWriter] = set()
        self._writers: set[asyncio.StreamWriter] = set()  # both ends of every connection
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        """Client connections currently open through the proxy."""
        return len(self._clients)

    async def start(self) -> TcpProxy:
        """Listen on a free port (kept across cut/restore, so URLs built from `port` stay valid)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self, mode: Mode = "reset") -> None:
        if mode == "blackhole":
            self._flowing.clear()
            return
        self._flowing.set()  # a reset ends a partition too: whatever was held is thrown away below
        if self._server is not None:
            self._server.close()  # the port stops accepting: connect() gets ECONNREFUSED
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._clients.clear()

    async def restore(self) -> None:
        if self._server is None:
            await self.start()
        self._flowing.set()

    async def close(self) -> None:
        """Stop listening and drop every connection; the relay tasks end on their own.

        (Not cancelled: on Python 3.11 asyncio's stream server logs a cancelled handler as an error.)"""
        self.cut("reset")
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5)

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        link = Link()
        self.links.append(link)
        self._clients.add(client_writer)
        self._writers.add(client_writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        server_writer: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()  # during a partition the SYN never reaches the server
            if client_writer.transport.is_closing():
                return
            try:
                server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                return
            self._writers.add(server_writer)
            await asyncio.gather(
                self._pipe(client_reader, server_writer, link),
                self._pipe(server_reader, client_writer),
            )
        finally:
            link.closed = True
            self._tasks.discard(task)
            self._clients.discard(client_writer)
            for writer in (client_writer, server_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link | None = None) -> None:
        """Copy one direction until EOF; while cut, hold what was read (TCP would retransmit it)."""
        try:
            while data := await reader.read(CHUNK):
                if link is not None:
                    link.client_tail = (link.client_tail + data)[-TAIL:]
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
            await self._flowing.wait()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.transport.abort()
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()


def proxy_for(url: str) -> TcpProxy:
    """A proxy (not started: `async with` starts and closes it) to the host and port `url` names."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return TcpProxy(parts.hostname, parts.port)


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's: the service connects through it."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{proxy.host}:{proxy.port}" if userinfo else f"{proxy.host}:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))
