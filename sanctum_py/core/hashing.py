"""Laravel-compatible bcrypt, always run off the event loop.

PHP writes `$2y$` hashes and bcrypt only reads the first 72 bytes of a password. The Python bcrypt
package writes `$2b$` (the same algorithm) and, from version 5, raises on longer input, so we cut to
72 bytes ourselves: otherwise a Laravel user with a long passphrase could never log in.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

import bcrypt

_MAX_BYTES = 72
_ACCEPTED_PREFIXES = (b"$2y$", b"$2b$", b"$2a$")


def _password_bytes(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")[:_MAX_BYTES]


def hash_password_sync(password: str, rounds: int) -> str:
    hashed = bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(rounds))
    return "$2y$" + hashed[4:].decode("ascii")


def verify_password_sync(password: str, hashed: str) -> bool:
    try:
        stored = hashed.encode("ascii")
    except UnicodeEncodeError:
        return False
    if not stored.startswith(_ACCEPTED_PREFIXES):
        return False
    try:
        return bcrypt.checkpw(_password_bytes(password), b"$2b$" + stored[4:])
    except ValueError:  # a malformed hash in the database is a mismatch, not a crash
        return False


class PasswordHasher:
    """bcrypt in a dedicated thread pool; bcrypt releases the GIL, so threads run in parallel."""

    def __init__(self, rounds: int = 10, threads: int = 2) -> None:
        self.rounds = rounds
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        # Unknown users are checked against this, so they cost what a wrong password costs.
        self._dummy_hash = hash_password_sync(secrets.token_urlsafe(16), rounds)

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, hash_password_sync, password, self.rounds)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check a password; with no hash (unknown user) burn the same time and answer False."""
        loop = asyncio.get_running_loop()
        if hashed is None:
            await loop.run_in_executor(self._pool, verify_password_sync, password, self._dummy_hash)
            return False
        return await loop.run_in_executor(self._pool, verify_password_sync, password, hashed)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
