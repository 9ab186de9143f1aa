"""Rows found by an `<id>|<secret>` plain text, the way Sanctum's findToken finds tokens."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

from sanctum_py.core.tokens import hashes_match, parse_token


class HashedSecretRow(Protocol):
    token: str  # sha256 hex of the secret


RowT = TypeVar("RowT", bound=HashedSecretRow)
RowT_co = TypeVar("RowT_co", bound=HashedSecretRow, covariant=True)


class _Finder(Protocol[RowT_co]):  # a Tortoise model class (its get_or_none gives an awaitable QuerySetSingle)
    def get_or_none(self, *, id: int) -> Awaitable[RowT_co | None]: ...


async def find_by_plain_text(model: _Finder[RowT], presented: str) -> RowT | None:
    """Look the row up by its id, then compare the secret's hash in constant time; None if either fails."""
    parsed = parse_token(presented)
    if parsed is None or parsed.token_id is None:
        return None
    row = await model.get_or_none(id=parsed.token_id)
    if row is None or not hashes_match(row.token, parsed.secret):
        return None
    return row
