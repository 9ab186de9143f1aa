"""One worker's HTTP server, from its listening socket to a clean exit on SIGTERM or SIGINT.

aiohttp's `web.run_app` does the same, with one gap that this module exists to close. At the signal
it closes the listener at once. A connection the kernel handed over in the same instant is then half
accepted: asyncio has taken the socket but not yet made its transport. On Python 3.11 that transport
then fails to attach to the closed listener (an assertion inside asyncio, silent outside debug mode),
and the socket is never closed: a ResourceWarning at exit, and a client whose request is dropped
rather than answered or refused. Measured: 1 run in 8 to 15 of tests/test_shutdown.py with two
workers.

So the shutdown here goes in this order:
1. stop taking connections from the listening socket (it stays open, so nothing is half accepted);
2. let the loop finish the accepts already under way, so aiohttp knows every connection it holds;
3. aiohttp's own shutdown: close the listener, wait for in-flight requests (up to `shutdown_timeout`),
   close every connection, run the app's cleanup.
Connections still queued in the kernel at step 1 are reset when the listener closes: for their
clients that is a refusal, and nothing was processed.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

# Loop passes from asyncio accepting a socket to aiohttp knowing of its connection are two (the
# transport is made, then connection_made runs); one spare.
ACCEPT_PASSES = 3
BACKLOG = 128  # aiohttp's default


def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool,
    shutdown_timeout: float,
    announce: Callable[[str], None],
    **runner_options: Any,
) -> None:
    """Serve `app` on host:port until SIGTERM or SIGINT, then shut down as described above.
    `runner_options` go to aiohttp's AppRunner (access log settings)."""
    listener = _listen(host, port, reuse_port)
    asyncio.run(_serve(app, listener, shutdown_timeout, announce, runner_options))


def _listen(host: str, port: int, reuse_port: bool) -> socket.socket:
    """The listening socket, bound as aiohttp's TCPSite binds it (SO_REUSEADDR; SO_REUSEPORT when
    several workers share the port), for the first address `host` resolves to."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    listener = socket.create_server(address, family=family, backlog=BACKLOG, reuse_port=reuse_port)
    listener.setblocking(False)
    return listener


async def _serve(
    app: web.Application,
    listener: socket.socket,
    shutdown_timeout: float,
    announce: Callable[[str], None],
    runner_options: dict[str, Any],
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout, **runner_options)
    await runner.setup()
    try:
        site = web.SockSite(runner, listener, backlog=BACKLOG)
        await site.start()
        announce(f"======== Running on {site.name} ========\n(Press CTRL+C to quit)")
        await stop.wait()
        loop.remove_reader(listener.fileno())  # step 1: no new accepts; the socket stays open
        for _ in range(ACCEPT_PASSES):  # step 2
            await asyncio.sleep(0)
    finally:
        await runner.cleanup()  # step 3
