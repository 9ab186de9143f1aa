"""Tortoise configuration and lifecycle, built from Settings (never from globals)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE

from sanctum_py.db.engines.bounded import OPERATION_TIMEOUT

MODELS_MODULES = ["sanctum_py.db.models", "aerich.models"]

# Tortoise's engine -> the same client with deadlines (db/engines), and the driver's own timeouts.
BOUNDED_ENGINES = {
    "tortoise.backends.asyncpg": ("sanctum_py.db.engines.postgres", ("timeout", "command_timeout")),
    "tortoise.backends.mysql": ("sanctum_py.db.engines.mysql", ("connect_timeout", "read_timeout")),
}


def tortoise_config(database_url: str, timeout: float | None = None) -> dict[str, Any]:
    """`timeout`: seconds any one database operation may take (connecting, waiting for a pooled
    connection, a query) before it fails and the request answers 503. None: the drivers' defaults,
    for migrations and maintenance commands, whose statements may rightly run long."""
    return {
        "connections": {"default": _connection(database_url, timeout)},
        "apps": {"models": {"models": MODELS_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str, timeout: float | None) -> str | dict[str, Any]:
    if database_url.startswith("sqlite://"):
        path = database_url[len("sqlite://") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets several worker processes read while one writes; busy_timeout makes a writer
        # wait for the lock instead of failing at once.
        return {
            "engine": "tortoise.backends.sqlite",
            "credentials": {"file_path": path, "journal_mode": "WAL", "busy_timeout": 5000},
        }
    if database_url.startswith(("postgres://", "postgresql://")):
        database_url = database_url.replace("postgresql://", "postgres://", 1)
    return database_url if timeout is None else _bounded(database_url, timeout)


def _bounded(database_url: str, timeout: float) -> str | dict[str, Any]:
    """The URL as Tortoise would expand it, on the bounded engine; timeouts named in the URL win."""
    config = expand_db_url(database_url)
    if config["engine"] not in BOUNDED_ENGINES:
        return database_url
    engine, driver_timeouts = BOUNDED_ENGINES[config["engine"]]
    defaults = dict.fromkeys(driver_timeouts, timeout)
    return {"engine": engine, "credentials": {OPERATION_TIMEOUT: timeout, **defaults, **config["credentials"]}}


def forget_compiled_queries() -> None:
    """Tortoise caches each model's INSERT/DELETE SQL by connection *name*, not dialect: a process
    that re-initialises "default" on another database (the test suite, the migrate command) must
    drop that cache or it would send SQLite's `?` placeholders to PostgreSQL."""
    EXECUTOR_CACHE.clear()


async def init_database(database_url: str, operation_timeout: float | None = None) -> None:
    forget_compiled_queries()
    await Tortoise.init(config=tortoise_config(database_url, operation_timeout), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()
