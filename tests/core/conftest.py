"""Shared data for the pure core tests: the Laravel 8 + Fortify compat vectors (read-only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "compat" / "laravel8-sanctum2" / "vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def fortify(vectors: dict[str, Any]) -> dict[str, Any]:
    return vectors["fortify_2fa"]
