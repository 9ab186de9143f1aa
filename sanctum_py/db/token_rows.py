"""personal_access_tokens on the hot paths, by statements rendered once per dialect.

- `token_with_owner`: the read behind every authenticated request the token cache does not answer,
  which is every request when several workers or nodes serve (the cache is then off). Through the
  query builder it took two `get_or_none` calls, and building them cost far more CPU than the
  database spent answering; this is one JOIN, and both models are built from the one row.
- `insert_token`: the write behind every login, refresh and device token. Tortoise's `create()`
  validates and converts each field through the model on the event loop, which on a login competes
  with bcrypt for the CPU; this converts the few fields once and inserts them.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from tortoise import connections

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
) -> PersonalAccessToken:
    """Insert one token row (`token` is the hash) and return it as the model, id included."""
    connection = connections.get("default")  # inside in_transaction(), the transaction's connection
    dialect = connection.capabilities.dialect
    given = (tokenable_type, tokenable_id, name, token, abilities, None, expires_at, now, now)
    fields = PersonalAccessToken._meta.fields_map
    row = {column: fields[column].to_db_value(value, None) for column, value in zip(INSERT_COLUMNS, given, strict=True)}
    inserted = await connection.execute_insert(_insert_statement(dialect), list(row.values()))
    token_id = inserted["id"] if dialect == "postgres" else inserted  # asyncpg gives the RETURNING row
    return PersonalAccessToken._init_from_db(id=token_id, **row)


@lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> str:
    columns = ", ".join(quote(c, dialect) for c in INSERT_COLUMNS)
    values = ", ".join(placeholder(n, dialect) for n in range(1, len(INSERT_COLUMNS) + 1))
    returning = " RETURNING id" if dialect == "postgres" else ""  # the others report lastrowid
    return (
        f"INSERT INTO {quote(PersonalAccessToken._meta.db_table, dialect)} "  # noqa: S608 - model metadata only
        f"({columns}) VALUES ({values}){returning}"
    )
