"""MailMessage is immutable and validated; build_email makes a well-formed MIME message."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes, policy

import pytest

from sanctum_py.mail import MailMessage, build_email
from tests.mail.support import SUBJECT, TEXT, settings, text_of


def test_message_is_immutable() -> None:
    message = MailMessage(to="ayse@example.com", subject="Hi", text="body")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.subject = "changed"  # type: ignore[misc]
    assert message.html is None
    assert message.recipient_domain == "example.com"


@pytest.mark.parametrize(
    "to", ["", "ayse", "ayse@", "@example.com", "a@b.com, c@d.com", "Ayşe <a@b.com>", "a@b.com\r\nBcc: x@y.z"]
)
def test_invalid_recipients_are_refused(to: str) -> None:
    with pytest.raises(ValueError, match=r"email address|line breaks"):
        MailMessage(to=to, subject="Hi", text="body")


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@example.com", "Hi\nthere", "Hi\r"])
def test_header_injection_in_subject_is_refused(subject: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        MailMessage(to="ayse@example.com", subject=subject, text="body")


def test_build_email_text_only() -> None:
    config = settings(mail_from_address="hesap@örnek.com.tr", mail_from_name="Güvenlik Ekibi")
    email = build_email(MailMessage(to="ayse@example.com", subject=SUBJECT, text=TEXT), config)
    raw = email.as_bytes(policy=policy.SMTP)
    assert raw.isascii(), "headers and bodies are encoded for 7-bit transport"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["To"] == "ayse@example.com"
    assert parsed["From"].addresses[0].display_name == "Güvenlik Ekibi"
    assert parsed["From"].addresses[0].addr_spec == "hesap@xn--rnek-4qa.com.tr"
    assert parsed["Subject"] == SUBJECT
    assert parsed["Date"] is not None
    assert parsed["Message-ID"].endswith("@xn--rnek-4qa.com.tr>")
    assert parsed.get_content_type() == "text/plain"
    assert text_of(parsed) == TEXT


def test_build_email_with_html_is_multipart_alternative() -> None:
    html = "<p>Merhaba <b>Ayşe</b></p>\n"
    email = build_email(MailMessage(to="ayse@example.com", subject="Hi", text=TEXT, html=html), settings())
    parsed = message_from_bytes(email.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["From"] == "sanctum_py <noreply@example.com>"
    assert text_of(parsed.get_body(("plain",))) == TEXT
    assert text_of(parsed.get_body(("html",))) == html


def test_build_email_explicit_sender_without_settings() -> None:
    email = build_email(MailMessage(to="a@b.com", subject="Hi", text="x"), from_address="me@c.com")
    assert email["From"] == "me@c.com"
    with pytest.raises(ValueError, match="settings or from_address"):
        build_email(MailMessage(to="a@b.com", subject="Hi", text="x"))
    with pytest.raises(ValueError, match="email address"):
        build_email(MailMessage(to="a@b.com", subject="Hi", text="x"), from_address="not an address")
