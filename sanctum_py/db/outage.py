"""Which database errors mean "the database cannot be reached now" (answer 503, retry later) rather
than "this query is wrong" (a bug: 500).

Tortoise translates only some driver errors, and not on every path (a connection lost while it is
being returned to the pool surfaces as the driver's own exception), so the driver classes are named
here, once, for the HTTP layer and the bounded engines alike.
"""

from __future__ import annotations

import asyncpg
from asyncmy import errors as mysql_errors
from tortoise.exceptions import BaseORMException, DBConnectionError

# asyncpg: the 08 class (connection exceptions, incl. "connection was closed in the middle of
# operation"), a server shutting down or starting up (57P01-57P03), and no free server slot (53300).
_POSTGRES = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# asyncpg's own words when the server end of a pooled connection closed under a query: the pool takes
# the connection back at once, and the query then finds it "released" (Tortoise only uses a
# connection inside its acquire block, so for us that message can only mean a closed link).
_POSTGRES_GONE = ("connection is closed", "connection was closed", "released back to the pool")
# MySQL/MariaDB client and server codes: can't connect (2002/2003), gone away or lost (2006/2013),
# server shutting down (1053), too many connections (1040), connection killed (1927).
_MYSQL_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1040, 1053, 1927})


# The database itself is gone (dropped, or not restored yet) or lacks its tables (dropped with it, or
# migrations not run): no request can be served, so it is an outage (503, /up down), not a bug (500).
# A pending migration is a deploy error, but a 503 that takes the node out beats a 500 per request.
# PostgreSQL: 3D000 invalid catalog name, 42P01 undefined table. MySQL/MariaDB: unknown database
# (1049), no database selected (1046), table doesn't exist (1146).
_POSTGRES_MISSING = (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError)
_MYSQL_MISSING_CODES = frozenset({1046, 1049, 1146})


def is_database_missing(error: BaseException | None) -> bool:
    """True when `error`, or the driver error it wraps, says the database or its tables are gone."""
    for _ in range(5):
        if error is None:
            return False
        if isinstance(error, _POSTGRES_MISSING):
            return True
        if isinstance(error, mysql_errors.Error) and error.args and error.args[0] in _MYSQL_MISSING_CODES:
            return True
        error = _wrapped(error)
    return False


def _wrapped(error: BaseException) -> BaseException | None:
    wrapped = error.args[0] if isinstance(error, BaseORMException) and error.args else None
    return error.__cause__ or (wrapped if isinstance(wrapped, BaseException) else None)


def is_link_failure(error: BaseException | None) -> bool:
    """True when `error`, or the driver error it wraps, says the database link failed.

    Only explicit wrapping is followed (`raise ... from`, Tortoise's `OperationalError(driver_error)`),
    never `__context__`: a bug raised while some timeout was being handled is still a bug."""
    for _ in range(5):  # Tortoise wraps a driver error once; a few levels is plenty
        if error is None:
            return False
        if isinstance(error, (TimeoutError, OSError, DBConnectionError, *_POSTGRES)):
            return True
        if isinstance(error, asyncpg.InterfaceError) and any(words in str(error) for words in _POSTGRES_GONE):
            return True
        if isinstance(error, mysql_errors.OperationalError) and error.args and error.args[0] in _MYSQL_CODES:
            return True
        error = _wrapped(error)
    return False
