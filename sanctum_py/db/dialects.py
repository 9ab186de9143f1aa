"""What differs between the three SQL dialects in the few statements written by hand (db/token_rows.py,
core/accounts.py): how an identifier is quoted and how the n-th parameter is written."""

from __future__ import annotations


def quote(name: str, dialect: str) -> str:
    """A quoted identifier: backticks on MySQL/MariaDB, double quotes on PostgreSQL and SQLite."""
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


def placeholder(number: int, dialect: str) -> str:
    """The `number`-th (1-based) parameter: `$n` for asyncpg, `%s` for asyncmy, `?` for SQLite."""
    return {"postgres": f"${number}", "mysql": "%s"}.get(dialect, "?")
