"""A real SMTP server (aiosmtpd, in its own thread) on 127.0.0.1, recording what it receives.

Plain, STARTTLS-with-AUTH and implicit-TLS flavours; the TLS ones use a throwaway self-signed
certificate for 127.0.0.1 that the client trusts through an explicit SSLContext (no system store).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.secret_scan import observe_mail, remember
from tests.support.servers import free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "s3cret-smtp-pässword"
remember(SMTP_PASSWORD, "tests.mail.conftest.SMTP_PASSWORD")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        observe_mail(envelope.content)  # the reset tokens and signatures it carries must never be logged
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD), handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    pem: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.pem)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(folder / "cert.pem", folder / "key.pem", pem.decode("ascii"))


def _serve(handler: RecordingHandler, **kwargs: Any) -> Iterator[SmtpServer]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Plain SMTP, no AUTH."""
    yield from _serve(RecordingHandler())


@pytest.fixture
def starttls_server(certificate: Certificate) -> Iterator[SmtpServer]:
    """STARTTLS required before MAIL; AUTH (only offered over TLS) checks SMTP_USER/SMTP_PASSWORD."""
    handler = RecordingHandler()
    yield from _serve(
        handler,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=handler.authenticate,
        auth_required=True,
    )


@pytest.fixture
def implicit_tls_server(certificate: Certificate) -> Iterator[SmtpServer]:
    """SMTP inside TLS from the first byte (SMTPS, port 465 style)."""
    yield from _serve(RecordingHandler(), ssl_context=certificate.server_context())
