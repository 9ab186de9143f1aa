"""Work done after the HTTP answer: mail delivery, and the jobs that end in a mail.

A slow or dead SMTP server must neither delay nor change an answer (and a delay that depends on whether
a mail was sent would tell an observer whether an account exists), so flows hand their mail here and
answer at once. Jobs are tracked: `drain()` waits for them at shutdown, before the database closes.
A failure is logged by its class and the job's kind only: never a body, a link, an address or a token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sanctum_py.mail.drivers import MailDeliveryError, Mailer
from sanctum_py.mail.message import MailMessage, build_email

if TYPE_CHECKING:
    from sanctum_py.settings import Settings

log = logging.getLogger("sanctum_py.mail")


class Outbox:
    def __init__(self, mailer: Mailer, settings: Settings) -> None:
        self.mailer = mailer
        self._settings = settings
        self._jobs: set[asyncio.Task[None]] = set()

    async def deliver(self, message: MailMessage, kind: str) -> bool:
        """Build and send one mail; False (logged, never raised) when it could not be handed over."""
        try:
            await self.mailer.send(build_email(message, self._settings))
        except (MailDeliveryError, ValueError) as exc:  # ValueError: MAIL_FROM_* not a valid address
            log.warning("%s mail not delivered: %s", kind, type(exc).__name__)
            return False
        return True

    def run(self, job: Coroutine[Any, Any, object], kind: str) -> None:
        """Run `job` in the background; an exception in it is logged, never lost and never raised."""

        async def guarded() -> None:
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("background %s job failed: %s", kind, type(exc).__name__)

        task = asyncio.get_running_loop().create_task(guarded())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    @property
    def pending(self) -> int:
        return len(self._jobs)

    async def drain(self) -> None:
        """Wait until every queued job has finished (at shutdown; tests use it to wait for mail)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)
