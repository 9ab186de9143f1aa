"""Seed 000's `auth_tokens` table, as a read-only view over Laravel's `personal_access_tokens`.

Reports and tools written against seed 000 read `auth_tokens (token_id, user_id, token, expiration_time,
created_at)`; the tokens themselves stay in the one table every wire uses, so there is nothing to keep in
sync. `token` is what the table stores: the SHA-256 hex of the secret, never a plain text. Additive: a
view, created only when missing, dropped by the downgrade.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; the statements below are idempotent

COLUMNS = (
    ("id", "token_id"),
    ("tokenable_id", "user_id"),
    ("token", "token"),
    ("expires_at", "expiration_time"),
    ("created_at", "created_at"),
)


def _view_sql(dialect: str) -> str:
    quote = "`" if dialect == "mysql" else '"'
    selected = ", ".join(f"{quote}{column}{quote} AS {quote}{alias}{quote}" for column, alias in COLUMNS)
    # Only the constant names above are interpolated: no value reaches this statement.
    body = f"{quote}auth_tokens{quote} AS SELECT {selected} FROM {quote}personal_access_tokens{quote}"  # noqa: S608
    if dialect == "sqlite":
        return f"CREATE VIEW IF NOT EXISTS {body}"
    return f"CREATE OR REPLACE VIEW {body}"


async def upgrade(db: BaseDBAsyncClient) -> str:
    await db.execute_script(_view_sql(db.capabilities.dialect))
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    quote = "`" if db.capabilities.dialect == "mysql" else '"'
    await db.execute_script(f"DROP VIEW IF EXISTS {quote}auth_tokens{quote}")
    return "SELECT 1"
