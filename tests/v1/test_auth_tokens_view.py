"""Seed 000's auth_tokens, a view over personal_access_tokens: the row of a v1 login, its token hashed."""

from __future__ import annotations

from tests.support.contract import ContractClient
from tests.support.db import query
from tests.v1.helpers import registered, secret_of, sha256, signed_in, v1_time


async def test_a_v1_login_is_a_row_of_auth_tokens(client: ContractClient) -> None:
    await registered(client)
    body = await signed_in(client)
    rows = await query(
        "SELECT token_id, user_id, token, expiration_time, created_at FROM auth_tokens WHERE token_id = {}",
        body["token_id"],
    )
    [row] = rows
    assert list(row) == ["token_id", "user_id", "token", "expiration_time", "created_at"]
    assert row["user_id"] == body["user"]["user_id"]
    assert row["token"] == sha256(secret_of(body["token"]))
    assert secret_of(body["token"]) not in str(row) and body["token"] not in str(row)
    assert v1_time(row["expiration_time"]) == body["expiration_time"]
    assert v1_time(row["created_at"]) == body["created_at"]
