"""Tenants for the envelope dialect (seed 003): `users.tenant_id`, a nullable UUID kept as char(36).

Additive only, like 2_ and 3_: one nullable column that Laravel's Eloquent never names, added only when
missing. Uniqueness of username and email stays global (the Laravel tables' unique indexes): no index
is changed here.
"""

from tortoise import BaseDBAsyncClient

from sanctum_py.db.schema_changes import add_column_if_missing

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; the step below checks before it acts

TABLE = "users"
COLUMN = "tenant_id"
TYPES = {
    "sqlite": "varchar(36) null",
    "postgres": "char(36) null",
    "mysql": "char(36) null",
}


async def upgrade(db: BaseDBAsyncClient) -> str:
    await add_column_if_missing(db, TABLE, COLUMN, TYPES)
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return "SELECT 1"  # additive on a shared Laravel table: nothing is dropped
