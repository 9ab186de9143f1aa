"""Where mail goes: `.eml` files (development, tests) or an SMTP server.

Every driver sends a finished `EmailMessage` (see `build_email`) and either returns or raises
`MailDeliveryError`. Neither the logs nor the error ever carry a body, a subject, a full address or a
credential: mails carry reset tokens and verification links. Logged: driver, recipient domain, timing,
and on failure the exception class (and SMTP reply code).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import ssl
import tempfile
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import aiosmtplib

from sanctum_py.mail.message import recipient_domain

if TYPE_CHECKING:
    from sanctum_py.settings import Settings

log = logging.getLogger("sanctum_py.mail")

TlsMode = Literal["none", "starttls", "tls"]


class MailDeliveryError(Exception):
    """A mail could not be handed over. The message names the driver and failure class, nothing more."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def _domains(message: EmailMessage) -> str:
    recipients = message.get_all("To", []) + message.get_all("Cc", []) + message.get_all("Bcc", [])
    domains = sorted({recipient_domain(address.addr_spec) for header in recipients for address in header.addresses})
    return ",".join(domains) or "?"


class FileMailer:
    """One `.eml` file per message in `directory` (created when missing), written atomically.

    The file appears complete or not at all (temp file in the same folder, then rename), so a reader
    polling the folder never sees half a message. Files are private to the owner (mode 0600): they hold
    live reset links. Names sort by time: `20250101T120000123456Z-<random>.eml`.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    async def send(self, message: EmailMessage) -> None:
        started = time.perf_counter()
        try:
            data = message.as_bytes(policy=policy.SMTP)
            path = await asyncio.to_thread(self._write, data)
        except (OSError, ValueError, UnicodeError) as exc:
            log.error("mail not written (file driver): %s", type(exc).__name__)
            raise MailDeliveryError(f"file mailer could not write the message: {type(exc).__name__}") from exc
        log.info(
            "mail written (file driver) to domain %s as %s in %.0f ms",
            _domains(message),
            path.name,
            (time.perf_counter() - started) * 1000,
        )

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        descriptor, temporary = tempfile.mkstemp(prefix=".", suffix=".eml.tmp", dir=self.directory)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target


class SmtpMailer:
    """SMTP through aiosmtplib, one connection per message.

    `tls`: "none" (plain, never upgraded), "starttls" (required: fails if the server does not offer it),
    "tls" (implicit TLS, usually port 465). Certificates are verified against the system store, or
    against `tls_context` when given (a private CA). `timeout` bounds the connect and each SMTP command.
    AUTH is used only when a username is set.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "none",
        timeout: float = 10.0,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "tls"):
            raise ValueError(f"unknown SMTP tls mode {tls!r}")
        self.host = host
        self.port = port
        self.username = username or None
        self._password = password or ""
        self.tls: TlsMode = tls
        self.timeout = timeout
        self._tls_context = tls_context

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpMailer(host={self.host!r}, port={self.port}, tls={self.tls!r}, auth={self.username is not None})"

    async def send(self, message: EmailMessage) -> None:
        started = time.perf_counter()
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password if self.username else None,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
            tls_context=self._tls_context,
        )
        try:
            try:
                await client.connect()
                await client.send_message(message)
                await client.quit()
            except BaseException:
                # aiosmtplib closes a timed-out connection from inside a cancelled wait; the transport
                # needs a few loop turns to finish, or its socket is left for the garbage collector.
                client.close()
                await asyncio.sleep(0.01)
                raise
        except (aiosmtplib.SMTPException, OSError) as exc:  # OSError: refused, unreachable, TLS handshake
            code = getattr(exc, "code", None)
            detail = type(exc).__name__ + (f" (SMTP {code})" if isinstance(code, int) else "")
            log.error("mail not sent (smtp driver, %s:%s): %s", self.host, self.port, detail)
            raise MailDeliveryError(f"SMTP delivery to {self.host}:{self.port} failed: {detail}") from None
        log.info(
            "mail sent (smtp driver, %s:%s) to domain %s in %.0f ms",
            self.host,
            self.port,
            _domains(message),
            (time.perf_counter() - started) * 1000,
        )


def build_mailer(settings: Settings) -> Mailer:
    """The driver MAIL_DRIVER names, configured from the MAIL_* settings."""
    if settings.mail_driver == "smtp":
        return SmtpMailer(
            host=settings.mail_host,
            port=settings.mail_port,
            username=settings.mail_username or None,
            password=settings.mail_password or None,
            tls=settings.mail_encryption,
            timeout=settings.mail_timeout,
        )
    if settings.mail_driver == "file":
        return FileMailer(settings.mail_file_path)
    raise ValueError(f"unknown MAIL_DRIVER {settings.mail_driver!r}")
