"""`engine` for MySQL/MariaDB: Tortoise's asyncmy client with deadlines (see bounded.py)."""

from __future__ import annotations

from typing import Any

from tortoise.backends.mysql.client import MySQLClient

from sanctum_py.db.engines.bounded import BoundedClientMixin


class BoundedMySQLClient(BoundedClientMixin, MySQLClient):
    def discard(self, connection: Any) -> None:
        if connection is not None:
            connection.close()  # asyncmy's close is immediate; the pool drops closed connections on release


client_class = BoundedMySQLClient
