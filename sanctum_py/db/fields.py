"""Column types that store values exactly as Laravel does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise import fields
from tortoise.fields.data import T_DATETIME


class LaravelTimestampField(fields.DatetimeField[T_DATETIME]):
    """A UTC timestamp stored naive at second precision: `YYYY-MM-DD HH:MM:SS`, as Eloquent writes it.

    Tortoise's own DatetimeField would write `2024-02-08 18:00:00.123456+00:00` into SQLite, which
    Laravel then fails to parse; and Laravel reads every stored timestamp as UTC (app.timezone).
    """

    class _db_postgres:
        SQL_TYPE = "TIMESTAMP(0) WITHOUT TIME ZONE"

    class _db_mysql:
        SQL_TYPE = "TIMESTAMP NULL"

    class _db_sqlite:
        SQL_TYPE = "DATETIME"

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_laravel_timestamp(value)
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None, microsecond=0)

    def to_python_value(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return parse_laravel_timestamp(value)
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


def parse_laravel_timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def utc_now() -> datetime:
    """Now, at the precision Laravel stores."""
    return datetime.now(UTC).replace(microsecond=0)
