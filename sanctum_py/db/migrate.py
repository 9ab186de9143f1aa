"""Apply the aerich migrations in `migrations/` to the configured database."""

from __future__ import annotations

import logging
from pathlib import Path

from aerich import Command
from tortoise import Tortoise, connections
from tortoise.exceptions import OperationalError

from sanctum_py.db.setup import forget_compiled_queries, tortoise_config

log = logging.getLogger("sanctum_py.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


async def migrate(database_url: str) -> list[str]:
    """Run every migration not yet recorded in the `aerich` table; return the ones applied."""
    config = tortoise_config(database_url)
    command = Command(tortoise_config=config, app="models", location=str(MIGRATIONS_DIR))
    forget_compiled_queries()
    try:
        await command.init()
        await _ensure_aerich_table()
        applied = await command.upgrade(run_in_transaction=True)
    finally:
        await Tortoise.close_connections()
    for name in applied:
        log.info("migrated %s", name)
    return applied


async def _ensure_aerich_table() -> None:
    """aerich records applied versions in its own table; create it the way `aerich init-db` would."""
    from aerich.models import Aerich

    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    table = Aerich._meta.db_table
    content_type = {"postgres": "JSONB", "mysql": "JSON"}.get(dialect, "JSON")
    id_type = {
        "postgres": "SERIAL NOT NULL PRIMARY KEY",
        "mysql": "INT NOT NULL PRIMARY KEY AUTO_INCREMENT",
    }.get(dialect, "INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL")
    quote = "`" if dialect == "mysql" else '"'
    await connection.execute_script(
        f"CREATE TABLE IF NOT EXISTS {quote}{table}{quote} (id {id_type}, "
        f"version VARCHAR(255) NOT NULL, app VARCHAR(100) NOT NULL, content {content_type} NOT NULL)"
    )


def migration_names() -> list[str]:
    return sorted(path.name for path in (MIGRATIONS_DIR / "models").glob("[0-9]*_*.py"))


async def pending_migrations() -> list[str]:
    """Migrations not recorded in the `aerich` table of the initialised database (all, if it has none)."""
    connection = connections.get("default")
    quote = "`" if connection.capabilities.dialect == "mysql" else '"'
    try:
        rows = await connection.execute_query_dict(f"SELECT version FROM {quote}aerich{quote}")  # noqa: S608
    except OperationalError:
        return migration_names()
    applied = {row["version"] for row in rows}
    return [name for name in migration_names() if name not in applied]
