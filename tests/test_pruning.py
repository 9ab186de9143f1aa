"""prune-expired walks the table in id order, batch after batch: it must still find every expired row
and keep every live one, wherever they sit (bench/prune_load.py measures what it does to the API)."""

from __future__ import annotations

import json
from datetime import timedelta

from sanctum_py.core.pruning import prune_expired
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import PersonalAccessToken
from tests.support.api import register
from tests.support.contract import ContractClient


async def test_batches_find_every_expired_row_between_live_ones(client: ContractClient) -> None:
    token_id = int((await register(client)).json()["access_token"].split("|")[0])
    user_id = (await PersonalAccessToken.get(id=token_id)).tokenable_id
    now = utc_now()
    # Live rows first (a batch of only kept rows), then runs of expired rows of every length around
    # the batch size, split by live ones, so batches end inside runs, on their edges and on live rows.
    pattern = "LLL" + "E" + "L" + "EE" + "L" + "EEE" + "LL" + "EEEEE" + "L" + "E"
    expected_kept = {token_id}
    for index, kind in enumerate(pattern):
        expired = kind == "E"
        row = await PersonalAccessToken.create(
            tokenable_type="App\\Models\\User",
            tokenable_id=user_id,
            name=f"{kind}{index}",
            token=f"{kind}{index}".ljust(64, "0"),
            abilities=json.dumps(["*"]),
            expires_at=now - timedelta(hours=25) if expired else now + timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
        if not expired:
            expected_kept.add(row.id)

    assert await prune_expired(24, None, batch_size=2, pause_ratio=0) == pattern.count("E")
    assert set(await PersonalAccessToken.all().values_list("id", flat=True)) == expected_kept
    assert await prune_expired(24, None, batch_size=2, pause_ratio=0) == 0
