"""personal_access_tokens on the hot paths, by statements rendered once per dialect.

- `token_with_owner`: the read behind every authenticated request the token cache does not answer,
  which is every request when several workers or nodes serve (the cache is then off). Through the
  query builder it took two `get_or_none` calls, and building them cost far more CPU than the
  database spent answering; this is one JOIN, and both models are built from the one row.
- `insert_token`: the write behind every login, refresh and device token. Tortoise's `create()`
  validates and converts each field through the model on the event loop, which on a login competes
  with bcrypt for the CPU; this converts the few fields once and inserts them.
- `insert_if_password`: the same insert, of any row (a token, a refresh token, a 2FA challenge), made
  only if the user's password is still the hash a login verified and the account is still active:
  `INSERT ... SELECT ... FROM users WHERE id = ? AND password = ? AND is_active`, one statement that
  reads the users row with a shared lock (FOR SHARE, LOCK IN SHARE MODE; SQLite's write lock serialises
  it): a reset or deactivation that committed after the password check leaves the statement nothing to
  insert, and one that commits after the insert revokes the row.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from sanctum_py.db.dialects import placeholder, quote
from sanctum_py.db.models import PersonalAccessToken, User

TOKEN_ALIAS = "t__"  # token columns come back as t__<column>, beside the user's own columns


async def token_with_owner(token_id: int | None, token_hash: str) -> tuple[PersonalAccessToken, User] | None:
    """The token by id (or, for a token presented without one, by hash) and its user; None when
    either is missing. The caller still checks the secret, the type, the expiry and the user."""
    connection = connections.get("default")
    by_id = token_id is not None
    sql = _statement(connection.capabilities.dialect, by_id)
    rows = await connection.execute_query_dict(sql, [token_id if by_id else token_hash])
    if not rows:
        return None
    row = dict(rows[0])
    token_fields = {column: row.pop(TOKEN_ALIAS + column) for column in _token_columns()}
    return PersonalAccessToken._init_from_db(**token_fields), User._init_from_db(**row)


def _token_columns() -> tuple[str, ...]:
    return tuple(PersonalAccessToken._meta.fields_db_projection.values())


@lru_cache(maxsize=8)
def _statement(dialect: str, by_id: bool) -> str:
    def q(name: str) -> str:
        return quote(name, dialect)

    token_columns = ", ".join(f"t.{q(c)} AS {q(TOKEN_ALIAS + c)}" for c in _token_columns())
    return (
        f"SELECT {token_columns}, u.* "  # noqa: S608 - only model metadata, never request text
        f"FROM {q(PersonalAccessToken._meta.db_table)} t "
        f"JOIN {q(User._meta.db_table)} u ON u.{q('id')} = t.{q('tokenable_id')} "
        f"WHERE t.{q('id' if by_id else 'token')} = {placeholder(1, dialect)}"
    )


# The columns insert_token writes, in the order of its statement's parameters.
INSERT_COLUMNS = (
    "tokenable_type",
    "tokenable_id",
    "name",
    "token",
    "abilities",
    "last_used_at",
    "expires_at",
    "created_at",
    "updated_at",
)


async def insert_token(
    *,
    tokenable_type: str,
    tokenable_id: int,
    name: str,
    token: str,
    abilities: str,
    expires_at: datetime | None,
    now: datetime,
    password_hash: str | None = None,
) -> PersonalAccessToken | None:
    """Insert one token row (`token` is the hash) and return it as the model, id included. With
    `password_hash` (a login's), only while it is user `tokenable_id`'s password: None when it is not."""
    given = (tokenable_type, tokenable_id, name, token, abilities, None, expires_at, now, now)
    row = db_values(PersonalAccessToken, INSERT_COLUMNS, given)
    if password_hash is not None:
        pinned_id = await insert_if_password(
            PersonalAccessToken, row, user_id=tokenable_id, password_hash=password_hash
        )
        return None if pinned_id is None else PersonalAccessToken._init_from_db(id=pinned_id, **row)
    connection = connections.get("default")  # inside in_transaction(), the transaction's connection
    dialect = connection.capabilities.dialect
    inserted = await connection.execute_insert(_insert_statement(dialect), list(row.values()))
    token_id = inserted["id"] if dialect == "postgres" else inserted  # asyncpg gives the RETURNING row
    return PersonalAccessToken._init_from_db(id=token_id, **row)


def db_values(model: type[Model], columns: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    """The columns' values as the database stores them, converted by the model's fields."""
    fields = model._meta.fields_map
    # No instance: these rows are written without one. Tortoise's fields accept None at run time (its own
    # UpdateQuery and bulk_update pass None) although to_db_value's annotation asks for a model.
    return {
        column: fields[column].to_db_value(value, None)  # type: ignore[arg-type]
        for column, value in zip(columns, values, strict=True)
    }


async def insert_if_password(
    model: type[Model], row: dict[str, Any], *, user_id: int, password_hash: str
) -> int | None:
    """Insert `row` (database values) into `model`'s table if user `user_id`'s password is still
    `password_hash` and the account is active, in one statement; the new id, or None when the password
    has changed, the account was deactivated or the user is gone."""
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    sql = _pinned_insert_statement(dialect, model._meta.db_table, tuple(row))
    values = [*row.values(), user_id, password_hash]
    if dialect == "mysql":  # MySQL has no INSERT ... RETURNING (MariaDB has): the cursor reports it
        return await _mysql_insert(connection, sql, values)
    rows = await connection.execute_query_dict(sql + " RETURNING id", values)  # PostgreSQL, SQLite >= 3.35
    return int(rows[0]["id"]) if rows else None


async def _mysql_insert(connection: BaseDBAsyncClient, sql: str, values: list[Any]) -> int | None:
    async with connection.acquire_connection() as raw, raw.cursor() as cursor:
        await cursor.execute(sql, values)
        return int(cursor.lastrowid) if cursor.rowcount == 1 else None


@lru_cache(maxsize=16)
def _pinned_insert_statement(dialect: str, table: str, columns: tuple[str, ...]) -> str:
    count = len(columns)
    selected = ", ".join(placeholder(n, dialect) for n in range(1, count + 1))
    lock = {"postgres": " FOR SHARE", "mysql": " LOCK IN SHARE MODE"}.get(dialect, "")
    return (
        f"INSERT INTO {quote(table, dialect)} ({', '.join(quote(c, dialect) for c in columns)}) "  # noqa: S608 - model metadata only
        f"SELECT {selected} FROM {quote(User._meta.db_table, dialect)} "
        f"WHERE {quote('id', dialect)} = {placeholder(count + 1, dialect)} "
        f"AND {quote('password', dialect)} = {placeholder(count + 2, dialect)} "
        # A deactivation answered while the login checked the password ends the login too: its tokens
        # would otherwise outlive the deactivation's revocations and come back with a reactivation.
        f"AND {quote('is_active', dialect)} = TRUE{lock}"
    )


@lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> str:
    columns = ", ".join(quote(c, dialect) for c in INSERT_COLUMNS)
    values = ", ".join(placeholder(n, dialect) for n in range(1, len(INSERT_COLUMNS) + 1))
    returning = " RETURNING id" if dialect == "postgres" else ""  # the others report lastrowid
    return (
        f"INSERT INTO {quote(PersonalAccessToken._meta.db_table, dialect)} "  # noqa: S608 - model metadata only
        f"({columns}) VALUES ({values}){returning}"
    )
