"""Password confirmation per token: `personal_access_tokens.password_confirmed_at`.

Fortify keeps the time of the last password confirmation in the session; a token API has none, so each
token keeps its own. Additive only: one nullable column (Laravel's Eloquent names its columns when it
inserts, so it never sees it), added only when missing.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; the step below checks before it acts

TABLE = "personal_access_tokens"
COLUMN = "password_confirmed_at"
TYPES = {
    "sqlite": "datetime",
    "postgres": "timestamp(0) without time zone null",
    "mysql": "timestamp null",
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
