"""Sanctum's `prune-expired`, in small batches with pauses, so the API never waits long on the pruner.

Measured with bench/prune_load.py and a second writer on SQLite: deleting 1,000 rows at a time, back to
back, held SQLite's single write lock for up to ~300 ms per batch (every row touches two random index
pages), and a writer in the service (a login's token insert) kept missing the gaps between batches, its
busy-timeout backoff sleeping through them. The service has one SQLite connection, so its reads queued
behind that writer. Batches of 200, each followed by a pause as long as the batch took, let waiting
writers in within ~40 ms, at the price of a prune about twice as long. PostgreSQL locks only the rows
being deleted, so there the pause only halves the load the prune puts on the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import cast

from tortoise.expressions import Q

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken

BATCH_SIZE = 200
PAUSE_RATIO = 1.0  # pause after each batch for this many times as long as the batch took


# Told (scanned, deleted) after each batch: rows found expired so far, and how many of them the deletes
# removed (fewer when a logout got there first). The CLI draws its progress bar from it.
ProgressCallback = Callable[[int, int], None]


def expired_condition(hours: int, expiration_minutes: int | None, now: datetime) -> Q:
    """Tokens expired more than `hours` ago, as `sanctum:prune-expired --hours` (Sanctum 3+): rows whose
    expires_at passed, and, when a global expiration is set, rows created before it."""
    condition = Q(expires_at__lt=now - timedelta(hours=hours))
    if expiration_minutes:
        condition |= Q(created_at__lt=now - timedelta(minutes=expiration_minutes + hours * 60))
    return condition


async def count_expired(hours: int, expiration_minutes: int | None, *, now: datetime | None = None) -> int:
    """How many tokens prune_expired would delete now (a dry run, or the total of a progress bar)."""
    return await PersonalAccessToken.filter(expired_condition(hours, expiration_minutes, now or utc_now())).count()


async def prune_expired(
    hours: int,
    expiration_minutes: int | None,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    pause_ratio: float = PAUSE_RATIO,
    progress: ProgressCallback | None = None,
    forget: Callable[[list[int]], Awaitable[None]] | None = None,
) -> int:
    """Delete the tokens expired_condition names, batch after batch; the number deleted. `forget` hears
    each batch's ids once deleted (every process's token cache drops them: see wiring.py)."""
    condition = expired_condition(hours, expiration_minutes, now or utc_now())
    scanned, deleted, after_id = 0, 0, 0
    while True:
        started = time.monotonic()
        # Walk the table by id: rows already looked at (the ones kept) are never scanned again, however
        # many live tokens sit before the expired ones. The cutoff is fixed, so a kept row stays kept.
        # Tortoise types values_list(..., flat=True) as tuples; with one field and flat=True it gives the values.
        ids = cast(
            "list[int]",
            await PersonalAccessToken.filter(condition, id__gt=after_id)
            .order_by("id")
            .limit(batch_size)
            .values_list("id", flat=True),
        )
        if not ids:
            return deleted
        after_id = ids[-1]
        deleted += await PersonalAccessToken.filter(id__in=list(ids)).delete()
        if forget is not None:
            await forget(ids)
        scanned += len(ids)
        if progress is not None:
            progress(scanned, deleted)
        await asyncio.sleep((time.monotonic() - started) * pause_ratio)
