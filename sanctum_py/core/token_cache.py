"""A per-process cache of verified tokens, so `/api/me` does not run SQL on every request.

An entry is trusted for at most `ttl` seconds and never past the token's own expiry. Every revocation
drops entries before it is answered: in this process directly, in the others through Redis (see
core/cache_invalidation.py). The cache as a whole is trusted only while `trusted_until` lies ahead:
forever where one process owns the database, and only while the Redis subscription is known to be
live where several processes share it (the subscriber keeps pushing `trusted_until` forward with each
heartbeat). Untrusted, it answers nothing and stores nothing: every request reads the database.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sanctum_py.db.models import User


@dataclass(slots=True)
class VerifiedToken:
    token_id: int
    token_hash: str
    user: User
    abilities: list[str]
    expires_at: datetime | None  # the earlier of expires_at and created_at + sanctum.expiration
    last_used_at: datetime | None
    cached_at: float = field(default_factory=time.monotonic)
    # Representations derived from this entry (the wire layer memoises the /api/me body here);
    # they live and die with the entry, so a revocation or user change drops them too.
    memo: dict[str, bytes] = field(default_factory=dict)


class TokenCache:
    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._by_hash: dict[str, VerifiedToken] = {}
        self._hashes_by_user: dict[int, set[str]] = {}
        self._hash_by_token_id: dict[int, str] = {}
        # Bumped by every revocation: an entry loaded from the database before a revocation must not
        # be cached after it, or a token revoked mid-lookup would live on for `ttl` seconds.
        self.generation = 0
        # Monotonic time until which entries may be answered (see the module docstring).
        self.trusted_until = math.inf

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, token_hash: str, now: float | None = None) -> VerifiedToken | None:
        entry = self._by_hash.get(token_hash)
        if entry is None:
            return None
        if now is None:
            now = time.monotonic()
        if now >= self.trusted_until:
            return None
        if now - entry.cached_at > self.ttl:
            self._drop(token_hash)
            return None
        return entry

    def is_aging(self, entry: VerifiedToken, now: float) -> bool:
        """Past three quarters of its life: time to reload it in the background."""
        return now - entry.cached_at > self.ttl * 0.75

    def put(self, entry: VerifiedToken, loaded_at_generation: int) -> None:
        if not self.enabled or loaded_at_generation != self.generation or entry.cached_at >= self.trusted_until:
            return
        self._drop(entry.token_hash)  # a reload goes in last: the map stays in load order
        self._drop_lapsed(entry.cached_at)
        if len(self._by_hash) >= self.max_entries:
            oldest = next(iter(self._by_hash))
            self._drop(oldest)
        self._by_hash[entry.token_hash] = entry
        self._hashes_by_user.setdefault(entry.user.id, set()).add(entry.token_hash)
        self._hash_by_token_id[entry.token_id] = entry.token_hash

    def _drop_lapsed(self, now: float) -> None:
        """Drop a few entries past their ttl from the oldest end. A token used once and never again
        (each access token of a refresh chain) would otherwise stay until max_entries pushed it out:
        a process's memory would grow with every token it had ever seen (bench/soak.py showed it)."""
        lapsed = []
        for token_hash, cached in itertools.islice(self._by_hash.items(), 16):
            if now - cached.cached_at <= self.ttl:
                break
            lapsed.append(token_hash)
        for token_hash in lapsed:
            self._drop(token_hash)

    def forget_token(self, token_id: int) -> None:
        self.generation += 1
        token_hash = self._hash_by_token_id.get(token_id)
        if token_hash is not None:
            self._drop(token_hash)

    def forget_tokens(self, token_ids: Iterable[int]) -> None:
        self.generation += 1
        for token_id in token_ids:
            token_hash = self._hash_by_token_id.get(token_id)
            if token_hash is not None:
                self._drop(token_hash)

    def forget_user(self, user_id: int) -> None:
        self.generation += 1
        for token_hash in list(self._hashes_by_user.get(user_id, ())):
            self._drop(token_hash)

    def distrust(self) -> None:
        """Stop answering from the cache, and drop what it holds: invalidations may have been missed."""
        self.trusted_until = -math.inf
        self.clear()

    def trust_until(self, deadline: float) -> None:
        self.trusted_until = deadline

    def clear(self) -> None:
        self.generation += 1
        self._by_hash.clear()
        self._hashes_by_user.clear()
        self._hash_by_token_id.clear()

    def _drop(self, token_hash: str) -> None:
        entry = self._by_hash.pop(token_hash, None)
        if entry is None:
            return
        self._hash_by_token_id.pop(entry.token_id, None)
        hashes = self._hashes_by_user.get(entry.user.id)
        if hashes is not None:
            hashes.discard(token_hash)
            if not hashes:
                del self._hashes_by_user[entry.user.id]
