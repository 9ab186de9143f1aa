"""What additive migrations share: look at a table's columns and add one when it is missing.

Every migration of this project only adds (a Laravel app may share the tables), and must be safe to run
again on a database that already has the change, on SQLite, PostgreSQL and MySQL/MariaDB alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from tortoise import BaseDBAsyncClient


async def column_names(db: BaseDBAsyncClient, table: str) -> set[str]:
    dialect = db.capabilities.dialect
    if dialect == "sqlite":
        return {row["name"] for row in await db.execute_query_dict(f'PRAGMA table_info("{table}")')}
    if dialect == "postgres":
        rows = await db.execute_query_dict(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            [table],
        )
        return {row["column_name"] for row in rows}
    rows = await db.execute_query_dict(
        "SELECT column_name AS name FROM information_schema.columns "
        "WHERE table_schema = database() AND table_name = %s",
        [table],
    )
    return {row["name"] for row in rows}


async def add_column_if_missing(db: BaseDBAsyncClient, table: str, column: str, types: Mapping[str, str]) -> None:
    """`ALTER TABLE ... ADD COLUMN` with the dialect's type from `types`, unless the column exists."""
    dialect = db.capabilities.dialect
    if column in await column_names(db, table):
        return
    quote = "`" if dialect == "mysql" else '"'
    await db.execute_script(f"ALTER TABLE {quote}{table}{quote} ADD COLUMN {quote}{column}{quote} {types[dialect]}")
