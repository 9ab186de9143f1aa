"""Bulk rows for the scale and prune benchmarks: users and personal access tokens, inserted fast.

A million tokens through the API would take hours (each login is a bcrypt check), so the rows go in
with the database's bulk path instead: one transaction of `executemany` on SQLite, `COPY` on
PostgreSQL. The rows look like the service's own: Laravel's second-precision UTC timestamps, a
unique sha256 hex digest in `token`, `["*"]` abilities, users sharing one real (cost-4) bcrypt hash. Nobody can
sign in with these tokens (their secrets are never produced); the benchmarks use tokens issued by the
API itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt

TOKENABLE_TYPE = "App\\Models\\User"  # Settings.tokenable_type's default
CHUNK = 50_000  # rows generated (and, on PostgreSQL, copied) at a time: bounded memory
EXPIRED_AGO = timedelta(days=2)  # past `prune-expired --hours 24`'s cutoff
CREATED_AGO = timedelta(days=30)

_USER_COLUMNS = ("id", "name", "username", "email", "password", "created_at", "updated_at")
_TOKEN_COLUMNS = (
    "id",
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


@dataclass(frozen=True)
class Fill:
    users: int  # new users
    tokens: int  # new tokens, spread round-robin over the new users
    expired: bool  # expires_at two days ago (prune-expired --hours 24 deletes them) or NULL (never expires)


@dataclass(frozen=True)
class FillReport:
    users: int
    tokens: int
    seconds: float


def fill_database(database_url: str, fill: Fill, password: str) -> FillReport:
    """Add `fill.users` users and `fill.tokens` tokens to the service's database."""
    started = time.perf_counter()
    password_hash = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4)).decode("ascii")
    if database_url.startswith("sqlite://"):
        _fill_sqlite(database_url[len("sqlite://") :], fill, password_hash)
    else:
        asyncio.run(_fill_postgres(database_url, fill, password_hash))
    return FillReport(fill.users, fill.tokens, time.perf_counter() - started)


# --- rows ----------------------------------------------------------------------------------------


def _user_rows(first_id: int, count: int, password_hash: str, stamp: Any) -> Iterator[tuple[Any, ...]]:
    for user_id in range(first_id, first_id + count):
        yield (user_id, "Fill", f"fill_{user_id}", f"fill_{user_id}@example.com", password_hash, stamp, stamp)


def _token_rows(
    first_id: int, count: int, first_user: int, users: int, salt: str, stamps: dict[str, Any]
) -> Iterator[tuple[Any, ...]]:
    created, expires = stamps["created"], stamps["expires"]
    for token_id in range(first_id, first_id + count):
        # A real sha256 hex digest, unique per row (the id is in it), of a secret nobody holds.
        digest = hashlib.sha256(f"{salt}:{token_id}".encode("ascii")).hexdigest()
        owner = first_user + (token_id - first_id) % users
        yield (token_id, TOKENABLE_TYPE, owner, "auth_token", digest, '["*"]', None, expires, created, created)


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stamps(fill: Fill) -> dict[str, datetime | None]:
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)  # stored naive UTC, as Eloquent does
    return {"now": now, "created": now - CREATED_AGO, "expires": now - EXPIRED_AGO if fill.expired else None}


# --- SQLite --------------------------------------------------------------------------------------


def _fill_sqlite(path: str, fill: Fill, password_hash: str) -> None:
    # The service stores `YYYY-MM-DD HH:MM:SS` text; prune compares those strings.
    stamps = {key: value.strftime("%Y-%m-%d %H:%M:%S") if value else None for key, value in _stamps(fill).items()}
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # This connection only: no fsync per page and a large page cache while a million index entries go in.
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MiB
        first_user = _next_id(connection.execute("SELECT max(id) FROM users").fetchone()[0])
        first_token = _next_id(connection.execute("SELECT max(id) FROM personal_access_tokens").fetchone()[0])
        connection.execute("BEGIN IMMEDIATE")
        for chunk in _chunks(_user_rows(first_user, fill.users, password_hash, stamps["now"])):
            connection.executemany(_insert_sql("users", _USER_COLUMNS), chunk)
        token_sql = _insert_sql("personal_access_tokens", _TOKEN_COLUMNS)
        salt = secrets.token_hex(4)
        for chunk in _chunks(_token_rows(first_token, fill.tokens, first_user, fill.users, salt, stamps)):
            connection.executemany(token_sql, chunk)
        connection.execute("COMMIT")
        # Fold the WAL back into the database so the service does not start with a huge WAL to read through.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    # Only this module's constant table and column names go into the text; the values are bound.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608


def _next_id(current_max: int | None) -> int:
    return (current_max or 0) + 1


# --- PostgreSQL ----------------------------------------------------------------------------------


async def _fill_postgres(url: str, fill: Fill, password_hash: str) -> None:
    import asyncpg

    stamps = _stamps(fill)
    connection = await asyncpg.connect(url)
    try:
        first_user = _next_id(await connection.fetchval("SELECT max(id) FROM users"))
        first_token = _next_id(await connection.fetchval("SELECT max(id) FROM personal_access_tokens"))
        async with connection.transaction():
            for chunk in _chunks(_user_rows(first_user, fill.users, password_hash, stamps["now"])):
                await connection.copy_records_to_table("users", records=chunk, columns=_USER_COLUMNS)
            salt = secrets.token_hex(4)
            for chunk in _chunks(_token_rows(first_token, fill.tokens, first_user, fill.users, salt, stamps)):
                await connection.copy_records_to_table("personal_access_tokens", records=chunk, columns=_TOKEN_COLUMNS)
            # Explicit ids do not move the bigserial sequences: the next API insert would collide.
            for table in ("users", "personal_access_tokens"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                )
        # What autovacuum would have done by the time such a table is this big: statistics for the
        # planner and a visibility map, so the measurement does not race a background vacuum.
        await connection.execute("VACUUM ANALYZE users, personal_access_tokens")
    finally:
        await connection.close()


def count_expired(database_url: str, hours: int) -> int:
    """Tokens that expired more than `hours` ago: what `prune-expired --hours` must leave at zero."""
    cutoff = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(hours=hours)
    sql = "SELECT count(*) FROM personal_access_tokens WHERE expires_at < {}"
    if database_url.startswith("sqlite://"):
        connection = sqlite3.connect(database_url[len("sqlite://") :])
        try:
            return int(connection.execute(sql.format("?"), (cutoff.strftime("%Y-%m-%d %H:%M:%S"),)).fetchone()[0])
        finally:
            connection.close()

    async def count() -> int:
        import asyncpg

        connection = await asyncpg.connect(database_url)
        try:
            return int(await connection.fetchval(sql.format("$1"), cutoff))
        finally:
            await connection.close()

    return asyncio.run(count())
