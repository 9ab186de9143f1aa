"""Mail for the API tests: a real SMTP server (aiosmtpd, tests/mail/conftest.py) and ways to read it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from sanctum_py.http.kernel.keys import SERVICES
from tests.mail.conftest import Received, RecordingHandler, SmtpServer
from tests.mail.support import text_of
from tests.support.contract import ContractClient
from tests.support.servers import free_port

LINK = re.compile(r"https?://\S+")


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """Plain SMTP on 127.0.0.1, recording every message it accepts."""
    port = free_port()
    controller = Controller(RecordingHandler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, controller.handler)
    finally:
        controller.stop()


def smtp_settings(server: SmtpServer) -> dict[str, Any]:
    """make_client overrides that send the app's mail to `server`."""
    return {"mail_driver": "smtp", "mail_host": server.host, "mail_port": server.port, "mail_timeout": 5}


async def delivered(client: ContractClient) -> None:
    """Wait until every mail the app queued after answering has been handed over (or has failed)."""
    await client.app[SERVICES].outbox.drain()


def body_of(message: Received) -> str:
    return text_of(message.message.get_body(("plain",)))


def link_in(message: Received) -> str:
    [link] = LINK.findall(body_of(message))
    return link


def to_of(message: Received) -> list[str]:
    return message.rcpt_tos
