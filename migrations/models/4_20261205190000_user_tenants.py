"""Tenants for the envelope dialect (seed 003): `users.tenant_id`, a nullable UUID kept as char(36).

Additive only, like 2_ and 3_: one nullable column that Laravel's Eloquent never names, added only when
missing. Uniqueness of username and email stays global (the Laravel tables' unique indexes): no index
is changed here.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; the step below checks before it acts

TABLE = "users"
COLUMN = "tenant_id"
TYPES = {
    "sqlite": "varchar(36) null",
    "postgres": "char(36) null",
    "mysql": "char(36) null",
}


async def _columns(db: BaseDBAsyncClient, dialect: str) -> set[str]:
    if dialect == "sqlite":
        return {row["name"] for row in await db.execute_query_dict(f'PRAGMA table_info("{TABLE}")')}
    if dialect == "postgres":
        rows = await db.execute_query_dict(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            [TABLE],
        )
        return {row["column_name"] for row in rows}
    rows = await db.execute_query_dict(
        "SELECT column_name AS name FROM information_schema.columns "
        "WHERE table_schema = database() AND table_name = %s",
        [TABLE],
    )
    return {row["name"] for row in rows}


async def upgrade(db: BaseDBAsyncClient) -> str:
    dialect = db.capabilities.dialect
    if COLUMN not in await _columns(db, dialect):
        quote = "`" if dialect == "mysql" else '"'
        await db.execute_script(f"ALTER TABLE {quote}{TABLE}{quote} ADD COLUMN {quote}{COLUMN}{quote} {TYPES[dialect]}")
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return "SELECT 1"  # additive on a shared Laravel table: nothing is dropped
