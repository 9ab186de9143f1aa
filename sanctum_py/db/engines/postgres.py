"""`engine` for PostgreSQL: Tortoise's asyncpg client with deadlines (see bounded.py)."""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from sanctum_py.db.engines.bounded import BoundedClientMixin


class BoundedAsyncpgClient(BoundedClientMixin, AsyncpgDBClient):
    def discard(self, connection: Any) -> None:
        if connection is None:
            return
        # Already released (the link closed and asyncpg took it back): then there is nothing left to drop.
        with contextlib.suppress(asyncpg.InterfaceError):
            connection.terminate()  # the pool's holder reconnects on its next use


client_class = BoundedAsyncpgClient
