"""Tortoise configuration and lifecycle, built from Settings (never from globals)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

MODELS_MODULES = ["sanctum_py.db.models", "aerich.models"]


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {"models": {"models": MODELS_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str) -> str | dict[str, Any]:
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
        return database_url.replace("postgresql://", "postgres://", 1)
    return database_url


def forget_compiled_queries() -> None:
    """Tortoise caches each model's INSERT/DELETE SQL by connection *name*, not dialect: a process
    that re-initialises "default" on another database (the test suite, the migrate command) must
    drop that cache or it would send SQLite's `?` placeholders to PostgreSQL."""
    EXECUTOR_CACHE.clear()


async def init_database(database_url: str) -> None:
    forget_compiled_queries()
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()
