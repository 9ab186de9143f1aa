"""Sanctum's `prune-expired`, in small batches so the API never waits on one long lock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tortoise.expressions import Q

from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken

BATCH_SIZE = 1000


async def prune_expired(
    hours: int, expiration_minutes: int | None, *, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> int:
    """Delete tokens expired more than `hours` ago, as `sanctum:prune-expired --hours` (Sanctum 3+):
    rows whose expires_at passed, and, when a global expiration is set, rows created before it."""
    now = now or utc_now()
    condition = Q(expires_at__lt=now - timedelta(hours=hours))
    if expiration_minutes:
        condition |= Q(created_at__lt=now - timedelta(minutes=expiration_minutes + hours * 60))
    deleted = 0
    while True:
        ids = await PersonalAccessToken.filter(condition).limit(batch_size).values_list("id", flat=True)
        if not ids:
            return deleted
        deleted += await PersonalAccessToken.filter(id__in=list(ids)).delete()
        await asyncio.sleep(0)  # let other work on this loop run between batches
