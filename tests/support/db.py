"""Reading the test database directly, to check what the service stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise import connections


async def query(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run SQL with `{}` placeholders on the test database, in the dialect's own parameter style."""
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    marks = iter(range(1, len(params) + 1))
    style = {"postgres": lambda: f"${next(marks)}", "mysql": lambda: "%s"}.get(dialect, lambda: "?")
    text = sql
    while "{}" in text:
        text = text.replace("{}", style(), 1)
    return await connection.execute_query_dict(text, list(params))


def stored_time(value: Any) -> str:
    """A timestamp column as Laravel stores it: `YYYY-MM-DD HH:MM:SS`."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)


def json_time(value: Any) -> str:
    """A stored timestamp as Laravel serialises it: `YYYY-MM-DDTHH:MM:SS.000000Z`."""
    return stored_time(value).replace(" ", "T") + ".000000Z"
