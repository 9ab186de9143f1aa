"""A personal access token and the user it belongs to, in one prepared statement.

This is the read behind every authenticated request the token cache does not answer, which is every
request when several workers or nodes serve (the cache is then off). Through the query builder it took
two `get_or_none` calls, and building them cost far more CPU than the database spent answering: this
renders the JOIN once per dialect and builds both models from the one row.
"""

from __future__ import annotations

from functools import lru_cache

from tortoise import connections

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
    def quote(name: str) -> str:
        return f"`{name}`" if dialect == "mysql" else f'"{name}"'

    placeholder = {"postgres": "$1", "mysql": "%s"}.get(dialect, "?")
    token_columns = ", ".join(f"t.{quote(c)} AS {quote(TOKEN_ALIAS + c)}" for c in _token_columns())
    return (
        f"SELECT {token_columns}, u.* "  # noqa: S608 - only model metadata, never request text
        f"FROM {quote(PersonalAccessToken._meta.db_table)} t "
        f"JOIN {quote(User._meta.db_table)} u ON u.{quote('id')} = t.{quote('tokenable_id')} "
        f"WHERE t.{quote('id' if by_id else 'token')} = {placeholder}"
    )
