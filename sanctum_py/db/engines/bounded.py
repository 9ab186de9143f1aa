"""The deadline shared by the bounded engines.

One deadline covers a whole database operation, as Tortoise runs it: opening the pool (first use, or
again after a failed start), waiting for a free connection, the query and handing the connection
back. Bounding each step alone is not enough: during an outage a request can wait almost a timeout
for a connection, then spend another on a query over a dead link. The drivers' own connect and query
timeouts (set in `db/setup.py`) stay as a backstop for what runs outside these wrappers (statements
inside a transaction, whose wait for a connection `DeadlinePool` bounds).

Opening the pool and waiting for a connection are awaited in a task of their own rather than
cancelled at the deadline: on Python 3.11 a cancellation that lands just as the drivers'
`asyncio.wait_for` completes is lost, and the connect then waits out another read timeout. Past the
deadline the caller gets TimeoutError at once; the abandoned step ends by the drivers' timeouts, and a
connection it still obtains goes straight back to the pool.

A connection whose operation failed on the link or ran out of time is dropped at once, not cancelled
over the same dead link (asyncpg would spend another timeout on that) nor handed to the next
request. The pool opens a new one when it next needs it, so recovery needs no restart.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tortoise.backends.base.client import PoolConnectionWrapper

from sanctum_py.db.outage import is_link_failure

OPERATION_TIMEOUT = "operation_timeout"  # the credential key db/setup.py passes the deadline in

T = TypeVar("T")


class Abandoned:
    """Steps given up at their deadline, still finishing in the background."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Future[Any]] = set()

    async def within(self, step: Awaitable[T], seconds: float, late: Callable[[T], object] | None = None) -> T:
        """`await step`, for at most `seconds`; a result that comes later is handed to `late`."""
        task = asyncio.ensure_future(step)
        try:
            done, _ = await asyncio.wait({task}, timeout=max(seconds, 0))
        except BaseException:  # the caller itself was cancelled
            self._abandon(task, late)
            raise
        if task not in done:
            self._abandon(task, late)
            raise TimeoutError
        return task.result()

    def _abandon(self, task: asyncio.Future[T], late: Callable[[T], object] | None) -> None:
        self.tasks.add(task)

        def finished(done: asyncio.Future[T]) -> None:
            self.tasks.discard(done)
            if done.cancelled() or done.exception() is not None:  # retrieved: nothing to log or keep
                return
            if late is not None:
                self.keep(late(done.result()))

        task.add_done_callback(finished)
        task.cancel()  # ask it to stop early; if the cancellation is lost it ends by the drivers' timeouts

    def keep(self, result: object) -> None:
        """Run `result` to its end in the background if it is awaitable (asyncpg's release is)."""
        if inspect.isawaitable(result):
            future = asyncio.ensure_future(result)
            self.tasks.add(future)
            future.add_done_callback(self._forget)

    def _forget(self, done: asyncio.Future[Any]) -> None:
        self.tasks.discard(done)
        if not done.cancelled():
            done.exception()  # retrieved: nothing to log or keep

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


class DeadlinePool:
    """The driver's pool with a deadline on `acquire`; everything else is delegated unchanged."""

    def __init__(self, pool: Any, timeout: float, abandoned: Abandoned) -> None:
        self.pool = pool
        self.timeout = timeout
        self.abandoned = abandoned

    async def acquire(self) -> Any:
        return await self.abandoned.within(self.pool.acquire(), self.timeout, late=self.pool.release)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


class BoundedConnection(PoolConnectionWrapper):  # type: ignore[type-arg]
    """Tortoise's `async with client.acquire_connection() as connection: ...`, under one deadline.

    The deadline is an `asyncio.timeout` entered in `__aenter__` and left in `__aexit__` (the same
    task runs both): on expiry the query in between is cancelled and TimeoutError comes out."""

    __slots__ = ("_deadline",)

    # Narrowed: only BoundedClientMixin.acquire_connection builds one, so the client is always a Tortoise client
    # with BoundedClientMixin in front; mypy cannot spell that intersection, hence the ignore.
    client: BoundedClientMixin  # type: ignore[assignment]

    async def __aenter__(self) -> Any:
        client = self.client
        self._deadline = asyncio.timeout(client.operation_timeout)
        await self._deadline.__aenter__()
        try:
            if not client._pool:  # before taking a turn: MySQL's pool set-up itself acquires a connection
                await client.abandoned.within(self.ensure_connection(), self._remaining())
            await client.turns.acquire()  # first come, first served (see BoundedClientMixin.turns)
        except BaseException as error:
            await self._deadline.__aexit__(type(error), error, error.__traceback__)  # TimeoutError if expired
            raise
        try:
            pool = client._pool
            raw = pool.pool if isinstance(pool, DeadlinePool) else pool  # not yet wrapped: MySQL's session setup
            self.connection = await client.abandoned.within(raw.acquire(), self._remaining(), late=raw.release)
            return self.connection
        except BaseException as error:
            client.turns.release()
            await self._deadline.__aexit__(type(error), error, error.__traceback__)  # TimeoutError if expired
            raise

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            if isinstance(exc_val, asyncio.CancelledError) or is_link_failure(exc_val):
                self.client.discard(self.connection)
            await super().__aexit__(exc_type, exc_val, exc_tb)  # back to the pool (dropped if discarded)
        except BaseException as error:
            await self._deadline.__aexit__(type(error), error, error.__traceback__)
            raise
        finally:
            self.client.turns.release()
        await self._deadline.__aexit__(exc_type, exc_val, exc_tb)

    def _remaining(self) -> float:
        when = self._deadline.when()
        return self.client.operation_timeout if when is None else when - asyncio.get_running_loop().time()


class BoundedClientMixin:
    """Mixed in front of a Tortoise pooled client (asyncpg, MySQL)."""

    operation_timeout: float
    pool_maxsize: int
    _pool: Any
    _pool_init_lock: asyncio.Lock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.operation_timeout = float(kwargs.pop(OPERATION_TIMEOUT))
        self.abandoned = Abandoned()
        super().__init__(*args, **kwargs)
        # The drivers' pools hand out connections through an asyncio.Queue, which lets a request that
        # just arrived take a connection released for one that was waiting; the waiter then queues
        # again at the back. Under load that starved a few requests for half a second while the rest
        # took 4 ms (bench/scale.py, cache off, 32 connections on a pool of 5). A FIFO semaphore of the
        # pool's size in front of it serves waiters in arrival order.
        self.turns = asyncio.Semaphore(self.pool_maxsize)

    async def create_connection(self, with_db: bool) -> None:
        await super().create_connection(with_db)  # type: ignore[misc]
        self._pool = DeadlinePool(self._pool, self.operation_timeout, self.abandoned)

    def acquire_connection(self) -> BoundedConnection:
        return BoundedConnection(self, self._pool_init_lock)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.abandoned.drain()  # steps given up at a deadline end within the drivers' timeouts
        await super().close()  # type: ignore[misc]

    def discard(self, connection: Any) -> None:
        """Close `connection` at once, without a round trip; the pool forgets it on release."""
        raise NotImplementedError
