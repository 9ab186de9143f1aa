"""Debian's Chromium, driven by Playwright, for the tests that need a real browser.

Playwright's own browser downloads (`playwright install`) are never used: they are not reachable here
and would test a build nobody deploys. Chromium comes from Debian's `chromium` package, installed once
per session when it is missing; if that fails the test fails, saying why (never a quiet skip).
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
APT_SECONDS = 900


@cache
def chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when it is not there yet (once per test session)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing and this user cannot install it: run `apt-get install -y chromium` as root")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=APT_SECONDS, check=False
        )
        if result.returncode != 0:
            output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            pytest.fail(f"`{' '.join(command)}` failed ({result.returncode}):\n{output}")
    if not CHROMIUM.exists():
        pytest.fail(f"`apt-get install chromium` succeeded but {CHROMIUM} is still missing")
    return CHROMIUM
