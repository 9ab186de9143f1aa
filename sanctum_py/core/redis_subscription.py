"""A Redis pub/sub subscription whose messages are applied the moment their bytes are read.

Why not redis-py's PubSub: it hands messages to a task that reads them with `get_message()`, so between
the bytes arriving and the message being applied the event loop may run other callbacks, including
the handler of a request that arrived just after. Here the parser (hiredis) runs inside the protocol's
`data_received`, which the event loop calls from the same poll that saw the bytes: a request whose
bytes reached this process after the message's is handled after the message was applied (a request's
handler always starts in a later loop iteration than the read that brought it).

Liveness is proven, not assumed. A PING is sent every `heartbeat` seconds on the subscribed connection;
its PONG comes back after every message Redis queued for us before it, so when the PONG of a ping sent
at `t` arrives, nothing published before `t` can still be on its way. `on_live(t + lease)` then extends
the caller's trust; without PONGs that trust simply runs out `lease` seconds later (a black-holed link
needs no detection to be safe). A connection whose oldest ping is older than `lease` is dropped and
made again; `on_lost` is called on every drop, before anything else can run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, parse_url

log = logging.getLogger("sanctum_py.cache")

RECONNECT_MIN_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 1.0


class RedisSubscription:
    def __init__(
        self,
        redis_url: str,
        channels: tuple[str, ...],
        *,
        on_message: Callable[[bytes, bytes], None],
        on_live: Callable[[float], None],
        on_lost: Callable[[], None],
        lease: float = 1.5,
        heartbeat: float = 0.25,
    ) -> None:
        self._target: dict[str, Any] = parse_url(redis_url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        self._channels = channels
        self._on_message = on_message
        self._on_live = on_live
        self._on_lost = on_lost
        self.lease = lease
        self._heartbeat = heartbeat
        self._transport: asyncio.Transport | None = None
        self._pings: collections.deque[float] = collections.deque()  # send times of unanswered PINGs
        self._subscribed = False
        self._dropped: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._was_down = False
        self._closing = False

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="cache-invalidation-subscriber")

    async def close(self) -> None:
        self._closing = True  # the drop that follows is ours: not an outage to report
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._transport is not None:
            self._transport.abort()

    # --- the connection loop --------------------------------------------------------------------

    async def _run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                await asyncio.wait_for(self._connect(), timeout=self.lease)
            except (TimeoutError, OSError) as error:
                self._report_down(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            dropped = self._dropped
            assert dropped is not None
            try:
                while not dropped.done():
                    self._beat()
                    if self._subscribed:
                        delay = RECONNECT_MIN_SECONDS
                    await asyncio.wait([dropped], timeout=self._heartbeat)
            finally:
                if self._transport is not None:
                    self._transport.abort()
            # Connected but never subscribed (a refused AUTH, say): back off as for a refused connection.
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._dropped = loop.create_future()
        target = self._target
        if "path" in target:
            await loop.create_unix_connection(lambda: _Protocol(self), target["path"])
        else:
            # parse_url marks rediss:// URLs by the connection class it would use.
            tls = ssl.create_default_context() if target.get("connection_class") is SSLConnection else None
            await loop.create_connection(
                lambda: _Protocol(self), target.get("host", "localhost"), target.get("port", 6379), ssl=tls
            )

    def _beat(self) -> None:
        """Send a PING, or drop the connection when the oldest one has waited longer than the lease."""
        transport = self._transport
        if transport is None:
            return
        now = time.monotonic()
        if self._pings and now - self._pings[0] > self.lease:
            log.warning("cache invalidation: Redis did not answer a heartbeat in %.1f s; reconnecting", self.lease)
            transport.abort()
            return
        self._pings.append(now)
        transport.write(_PING)

    def _report_down(self, error: BaseException) -> None:
        if not self._was_down:
            log.error("cache invalidation: cannot subscribe to Redis (%s); the token cache is bypassed", error)
            self._was_down = True

    # --- called by the protocol, synchronously, from the event loop's I/O callbacks ---------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pings.clear()
        commands: list[tuple[str, ...]] = []
        password, username = self._target.get("password"), self._target.get("username")
        if password is not None:
            commands.append(("AUTH", username, password) if username else ("AUTH", password))
        commands.append(("SUBSCRIBE", *self._channels))
        transport.write(b"".join(_pack(command) for command in commands))
        self._pings.append(time.monotonic())  # a PING queued behind SUBSCRIBE: its PONG proves both
        transport.write(_PING)

    def reply(self, reply: Any) -> None:
        if isinstance(reply, list) and reply:
            kind = reply[0]
            if kind == b"message":
                self._on_message(reply[1], reply[2])
            elif kind == b"pong":
                sent_at = self._pings.popleft() if self._pings else 0.0
                if self._subscribed:
                    self._on_live(sent_at + self.lease)
            elif kind == b"subscribe" and reply[2] == len(self._channels):  # the last channel confirmed
                self._subscribed = True
                if self._was_down:
                    log.warning("cache invalidation: subscribed to Redis again; the token cache is trusted again")
                    self._was_down = False
        elif isinstance(reply, hiredis.ReplyError):
            log.error("cache invalidation: Redis refused the subscription: %s", reply)
            if self._transport is not None:
                self._transport.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self) -> None:
        self._transport = None
        self._subscribed = False
        self._pings.clear()
        self._on_lost()
        if self._dropped is not None and not self._dropped.done():
            self._dropped.set_result(None)
        if not self._was_down and not self._closing:
            log.error("cache invalidation: lost the Redis subscription; the token cache is bypassed until it is back")
            self._was_down = True


def _pack(command: tuple[str, ...]) -> bytes:
    # hiredis's stub types the argument as a 1-tuple; it takes any number of parts.
    packed: bytes = hiredis.pack_command(cast("tuple[str]", command))
    return packed


_PING = _pack(("PING",))


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: RedisSubscription) -> None:
        self._owner = owner
        self._reader = hiredis.Reader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._owner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                self._owner.reply(reply)
        except hiredis.ProtocolError:
            log.error("cache invalidation: unreadable reply from Redis; reconnecting")
            self._reader = hiredis.Reader()
            self._owner.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.connection_lost()
