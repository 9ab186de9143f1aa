"""Password confirmation per token: `personal_access_tokens.password_confirmed_at`.

Fortify keeps the time of the last password confirmation in the session; a token API has none, so each
token keeps its own. Additive only: one nullable column (Laravel's Eloquent names its columns when it
inserts, so it never sees it), added only when missing.
"""

from tortoise import BaseDBAsyncClient

from sanctum_py.db.schema_changes import add_column_if_missing

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; the step below checks before it acts

TABLE = "personal_access_tokens"
COLUMN = "password_confirmed_at"
TYPES = {
    "sqlite": "datetime",
    "postgres": "timestamp(0) without time zone null",
    "mysql": "timestamp null",
}


async def upgrade(db: BaseDBAsyncClient) -> str:
    await add_column_if_missing(db, TABLE, COLUMN, TYPES)
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return "SELECT 1"  # additive on a shared Laravel table: nothing is dropped
