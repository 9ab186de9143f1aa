"""Fixtures of the envelope wire tests; `client` and `make_client` (every backend) come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail.conftest import SmtpServer
from tests.support.mailbox import smtp_server


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    """Name it before `make_client`: the server must outlive the app, which delivers pending mail as it stops."""
    with smtp_server() as server:
        yield server
