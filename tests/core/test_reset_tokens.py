"""Laravel password-broker token helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sanctum_py.core.reset_tokens import hash_token, is_expired, is_throttled, new_token, token_matches
from sanctum_py.settings import decode_app_key

CREATED = datetime(2024, 2, 8, 18, 0, 0)


@pytest.fixture
def hash_key(vectors: dict[str, Any]) -> bytes:
    return decode_app_key(vectors["app_key"])


def test_token_is_64_lowercase_hex_and_fresh_each_time(hash_key: bytes) -> None:
    assert len(hash_key) == 32  # the decoded APP_KEY, not the "base64:..." string
    tokens = {new_token(hash_key) for _ in range(20)}
    assert len(tokens) == 20
    assert all(re.fullmatch(r"[0-9a-f]{64}", token) for token in tokens)


def test_stored_value_is_a_laravel_bcrypt_that_verifies(hash_key: bytes) -> None:
    token = new_token(hash_key)
    stored = hash_token(token, rounds=4)
    assert re.fullmatch(r"\$2y\$04\$[./A-Za-z0-9]{53}", stored)
    assert token not in stored
    assert token_matches(token, stored)
    assert not token_matches(new_token(hash_key), stored)
    assert not token_matches(token[:-1], stored)
    assert not token_matches(token, "not a hash")


def test_a_bcrypt_written_by_php_verifies(vectors: dict[str, Any]) -> None:
    """Hash::check on what Laravel's Hash::make wrote (the users' passwords: the same bcrypt as reset tokens)."""
    user = vectors["users"][0]
    assert user["password_hash"].startswith("$2y$10$")
    assert token_matches(user["password"], user["password_hash"])
    assert not token_matches(user["password"] + "x", user["password_hash"])


@pytest.mark.parametrize(
    ("elapsed", "expired"),
    [(timedelta(0), False), (timedelta(minutes=60), False), (timedelta(minutes=60, seconds=1), True)],
)
def test_expiry_boundary(elapsed: timedelta, expired: bool) -> None:
    assert is_expired(CREATED, CREATED + elapsed) is expired


def test_expiry_is_configurable_and_aware_datetimes_work() -> None:
    created = CREATED.replace(tzinfo=UTC)
    assert is_expired(created, created + timedelta(minutes=10, seconds=1), expire_minutes=10)
    assert not is_expired(created, created + timedelta(minutes=10), expire_minutes=10)


def test_a_row_without_created_at_is_expired_and_does_not_throttle() -> None:
    assert is_expired(None, CREATED)
    assert not is_throttled(None, CREATED)


@pytest.mark.parametrize(
    ("elapsed", "throttled"),
    [(timedelta(0), True), (timedelta(seconds=59), True), (timedelta(seconds=60), False), (timedelta(hours=1), False)],
)
def test_throttle_boundary(elapsed: timedelta, throttled: bool) -> None:
    assert is_throttled(CREATED, CREATED + elapsed) is throttled


def test_a_zero_throttle_disables_it() -> None:
    assert not is_throttled(CREATED, CREATED, throttle_seconds=0)
    assert is_throttled(CREATED, CREATED + timedelta(seconds=119), throttle_seconds=120)
