"""The drivers against real endpoints: an aiosmtpd server on 127.0.0.1, closed and silent ports, a folder.

Nothing is mocked. Every failure must surface as MailDeliveryError, quickly, and neither the error nor
the logs may carry the body, the subject, the recipient's local part or the SMTP password.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import stat
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from sanctum_py.mail import FileMailer, MailDeliveryError, MailMessage, SmtpMailer, build_email, build_mailer
from tests.mail.conftest import SMTP_PASSWORD, SMTP_USER, Certificate, SmtpServer
from tests.mail.support import HTML, SUBJECT, TEXT, settings, text_of
from tests.support.servers import free_port

RECIPIENT = "ayşe.yılmaz@example.com".replace("ş", "s").replace("ı", "i")  # ASCII local part, as SMTP needs
SECRET_FRAGMENTS = ("Merhaba", "reset/abc", "Şifre", "ayse.yilmaz", SMTP_PASSWORD)


def compose(html: str | None = None) -> EmailMessage:
    return build_email(MailMessage(to=RECIPIENT, subject=SUBJECT, text=TEXT, html=html), settings())


def assert_is_the_composed_mail(parsed: EmailMessage, *, html: str | None = None) -> None:
    assert parsed["To"] == RECIPIENT
    assert parsed["From"] == "sanctum_py <noreply@example.com>"
    assert parsed["Subject"] == SUBJECT
    assert text_of(parsed.get_body(("plain",))) == TEXT
    if html is not None:
        assert text_of(parsed.get_body(("html",))) == html


def assert_nothing_secret(text: str) -> None:
    for fragment in SECRET_FRAGMENTS:
        assert fragment not in text, f"{fragment!r} leaked into {text!r}"


def files_in(folder: Path) -> list[Path]:
    """Every entry of the folder, sorted by name (a sync helper: the async tests stay free of blocking calls)."""
    return sorted(folder.iterdir())


def read_eml(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


# --- SMTP: delivery ----------------------------------------------------------------------------------


async def test_smtp_delivers_utf8_mail(smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sanctum_py.mail")
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, timeout=5)

    await mailer.send(compose())

    [received] = smtp_server.received
    assert received.mail_from == "noreply@example.com"
    assert received.rcpt_tos == [RECIPIENT]
    assert_is_the_composed_mail(received.message)
    assert "domain example.com" in logged(caplog)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert_nothing_secret(logged(caplog))


async def test_smtp_delivers_multipart_html(smtp_server: SmtpServer) -> None:
    await SmtpMailer(smtp_server.host, smtp_server.port, timeout=5).send(compose(html=HTML))
    [received] = smtp_server.received
    assert received.message.get_content_type() == "multipart/alternative"
    assert_is_the_composed_mail(received.message, html=HTML)


async def test_build_mailer_smtp_end_to_end(smtp_server: SmtpServer) -> None:
    config = settings(mail_driver="smtp", mail_host=smtp_server.host, mail_port=smtp_server.port, mail_timeout=5)
    mailer = build_mailer(config)
    assert isinstance(mailer, SmtpMailer)
    await mailer.send(compose())
    assert len(smtp_server.received) == 1


async def test_smtp_starttls_with_auth(starttls_server: SmtpServer, certificate: Certificate) -> None:
    mailer = SmtpMailer(
        starttls_server.host,
        starttls_server.port,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        tls="starttls",
        timeout=5,
        tls_context=certificate.client_context(),
    )
    await mailer.send(compose())
    assert starttls_server.handler.logins == [(SMTP_USER, SMTP_PASSWORD)]
    [received] = starttls_server.received
    assert_is_the_composed_mail(received.message)
    assert SMTP_PASSWORD not in repr(mailer)


async def test_smtp_wrong_password_is_a_delivery_error(starttls_server: SmtpServer, certificate: Certificate) -> None:
    mailer = SmtpMailer(
        starttls_server.host,
        starttls_server.port,
        username=SMTP_USER,
        password=SMTP_PASSWORD + "-wrong",
        tls="starttls",
        timeout=5,
        tls_context=certificate.client_context(),
    )
    with pytest.raises(MailDeliveryError, match=r"SMTPAuthenticationError \(SMTP 535\)") as error:
        await mailer.send(compose())
    assert_nothing_secret(str(error.value))
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert starttls_server.received == []


async def test_smtp_starttls_refuses_an_untrusted_certificate(starttls_server: SmtpServer) -> None:
    """Without the test CA the system store must reject the self-signed certificate: no silent downgrade."""
    mailer = SmtpMailer(starttls_server.host, starttls_server.port, tls="starttls", timeout=5)
    with pytest.raises(MailDeliveryError):
        await mailer.send(compose())
    assert starttls_server.received == []


async def test_smtp_implicit_tls(implicit_tls_server: SmtpServer, certificate: Certificate) -> None:
    mailer = SmtpMailer(
        implicit_tls_server.host,
        implicit_tls_server.port,
        tls="tls",
        timeout=5,
        tls_context=certificate.client_context(),
    )
    await mailer.send(compose())
    [received] = implicit_tls_server.received
    assert_is_the_composed_mail(received.message)


async def test_smtp_starttls_required_but_not_offered(smtp_server: SmtpServer) -> None:
    """tls="starttls" against a server without STARTTLS fails instead of sending in clear."""
    with pytest.raises(MailDeliveryError):
        await SmtpMailer(smtp_server.host, smtp_server.port, tls="starttls", timeout=5).send(compose())
    assert smtp_server.received == []


# --- SMTP: failures ----------------------------------------------------------------------------------


async def test_smtp_unreachable_is_a_delivery_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sanctum_py.mail")
    port = free_port()  # nothing listens here: connection refused
    mailer = SmtpMailer("127.0.0.1", port, username=SMTP_USER, password=SMTP_PASSWORD, timeout=2)

    started = time.monotonic()
    with pytest.raises(MailDeliveryError) as error:
        await mailer.send(compose(html=HTML))
    assert time.monotonic() - started < 2

    message = str(error.value)
    assert f"127.0.0.1:{port}" in message
    assert "SMTPConnectError" in message
    assert_nothing_secret(message)
    assert_nothing_secret(logged(caplog))
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


async def test_smtp_silent_server_times_out() -> None:
    """A peer that accepts the connection but never greets: the timeout, not the OS, ends the wait."""
    writers: list[asyncio.StreamWriter] = []

    async def accept_and_hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept_and_hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(MailDeliveryError, match="Timeout") as error:
            await SmtpMailer("127.0.0.1", port, timeout=0.5).send(compose())
        assert 0.4 < time.monotonic() - started < 3
        assert_nothing_secret(str(error.value))
    finally:
        for writer in writers:
            writer.close()
            await writer.wait_closed()  # the server's end of the socket, or it is reported unclosed at GC
        server.close()
        await server.wait_closed()
        gc.collect()  # a socket the driver leaked would be reported here, in this test, not in a later one


def test_smtp_rejects_an_unknown_tls_mode() -> None:
    with pytest.raises(ValueError, match="tls mode"):
        SmtpMailer("127.0.0.1", 25, tls="ssl")  # type: ignore[arg-type]


# --- file driver -------------------------------------------------------------------------------------


async def test_file_mailer_writes_a_parseable_eml(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sanctum_py.mail")
    folder = tmp_path / "storage" / "mail"  # does not exist yet
    mailer = FileMailer(folder)

    await mailer.send(compose(html=HTML))

    [eml] = files_in(folder)  # no temporary file left behind
    assert eml.suffix == ".eml"
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    assert_is_the_composed_mail(read_eml(eml), html=HTML)
    assert_nothing_secret(logged(caplog))
    assert "domain example.com" in logged(caplog)


async def test_file_mailer_one_file_per_message_in_time_order(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path)
    subjects = [f"message {n}" for n in range(5)]
    for subject in subjects:
        await mailer.send(build_email(MailMessage(to=RECIPIENT, subject=subject, text=TEXT), settings()))
    files = files_in(tmp_path)
    assert len(files) == 5 and len({f.name for f in files}) == 5
    assert [read_eml(f)["Subject"] for f in files] == subjects


async def test_file_mailer_concurrent_sends_never_collide(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path)
    await asyncio.gather(*(mailer.send(compose()) for _ in range(20)))
    assert len([f for f in files_in(tmp_path) if f.suffix == ".eml"]) == 20


async def test_file_mailer_unwritable_folder_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(MailDeliveryError, match="file mailer") as error:
        await FileMailer(blocker / "mail").send(compose())
    assert_nothing_secret(str(error.value))


# --- build_mailer ------------------------------------------------------------------------------------


def test_build_mailer_defaults_to_files(tmp_path: Path) -> None:
    mailer = build_mailer(settings())
    assert isinstance(mailer, FileMailer)
    assert mailer.directory == Path("storage/mail")
    mailer = build_mailer(settings(mail_driver="file", mail_file_path=str(tmp_path / "out")))
    assert isinstance(mailer, FileMailer)
    assert mailer.directory == tmp_path / "out"


def test_build_mailer_smtp_settings() -> None:
    mailer = build_mailer(
        settings(
            mail_driver="smtp",
            mail_host="smtp.example.net",
            mail_port=587,
            mail_username=SMTP_USER,
            mail_password=SMTP_PASSWORD,
            mail_encryption="starttls",
            mail_timeout=3.5,
        )
    )
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.username, mailer.tls, mailer.timeout) == (
        "smtp.example.net",
        587,
        SMTP_USER,
        "starttls",
        3.5,
    )
    assert SMTP_PASSWORD not in repr(mailer)


def test_build_mailer_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_DRIVER", "smtp")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_USERNAME", "")  # empty = no AUTH, as in Laravel's .env
    monkeypatch.setenv("MAIL_ENCRYPTION", "tls")
    mailer = build_mailer(settings())
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.port, mailer.username, mailer.tls) == (2525, None, "tls")


@pytest.mark.parametrize(("name", "value"), [("mail_driver", "log"), ("mail_encryption", "ssl"), ("mail_port", 0)])
def test_invalid_mail_settings_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        settings(**{name: value})


def test_eml_files_are_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        asyncio.run(FileMailer(tmp_path).send(compose()))
    finally:
        os.umask(previous)
    [eml] = files_in(tmp_path)
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
