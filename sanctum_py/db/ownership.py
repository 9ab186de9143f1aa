"""Who may cache tokens without Redis: the one `serve` that owns a SQLite file, and no one else.

Without Redis a revocation reaches only the process that made it, so a cache is exact only where one
process serves the database. For PostgreSQL and MariaDB that cannot be known (any node, any Laravel
app, may share them): `TOKEN_CACHE=auto` does not cache there without Redis. A SQLite file can be
claimed: every `serve` holds an advisory lock on `<file>.serve-lock` for its lifetime, exclusive when
it caches, shared when it does not. So a caching server runs alone, and the kernel releases the lock
when the process ends, however it ends. A second `serve` on the same file meets the exclusive lock and
refuses to start (it could not tell the first about its revocations); a caching one that finds others
serving falls back to not caching. `serve --workers N` (N > 1) caches nothing without Redis: its
workers revoke behind each other's backs.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from sanctum_py.settings import Settings


class DatabaseInUse(Exception):
    """Another `serve` caches tokens on this SQLite file: this process must not serve it too."""


@dataclass(frozen=True)
class Claim:
    settings: Settings  # as given, or with TOKEN_CACHE=off when another server already shares the file
    lock_fd: int | None  # held open for the life of the process (the lock ends when it does)


def sqlite_file(settings: Settings) -> Path | None:
    path = settings.database_url[len("sqlite://") :] if settings.database_url.startswith("sqlite://") else ""
    return Path(path) if path and path != ":memory:" else None


def claim_database(settings: Settings) -> Claim:
    """Take this server's lock on its SQLite file (nothing to take elsewhere, or with Redis)."""
    database = sqlite_file(settings)
    if database is None or settings.redis_url:
        return Claim(settings, None)
    database.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{database}.serve-lock", os.O_RDWR | os.O_CREAT, 0o600)
    wants_cache = settings.token_cache != "off" and settings.workers == 1
    if wants_cache and _try_lock(fd, fcntl.LOCK_EX):
        return Claim(settings, fd)
    if _try_lock(fd, fcntl.LOCK_SH):
        # Others serve this file without a cache: join them without one either.
        return Claim(settings.model_copy(update={"token_cache": "off"}), fd)
    os.close(fd)
    raise DatabaseInUse(
        f"another `serve` caches tokens on {database} (TOKEN_CACHE): a revocation here would not reach it. "
        "Stop it, or set TOKEN_CACHE=off on every server sharing this file, or set REDIS_URL on all of them."
    )


def _try_lock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
