"""What a mail is (recipient, subject, text, optional HTML) and how it becomes an RFC 5322 message.

`MailMessage` is what the flows (password reset, email verification) build; `build_email` turns it into
an `email.message.EmailMessage` with From, Date and Message-ID, ready for any `Mailer`. Headers are
validated here, so a CR/LF smuggled into a recipient or subject fails loudly instead of injecting headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sanctum_py.settings import Settings


def _reject_line_breaks(field: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"mail {field} may not contain line breaks")


def parse_address(address: str) -> Address:
    """One bare `local@domain` address; raises ValueError on anything else (names, lists, no domain)."""
    _reject_line_breaks("address", address)
    try:
        parsed = Address(addr_spec=address.strip())
    except (ValueError, IndexError, HeaderParseError) as exc:  # what the header parser raises on bad specs
        raise ValueError("not a valid email address") from exc
    if not parsed.username or not parsed.domain:
        raise ValueError("not a valid email address")
    if not parsed.domain.isascii():  # an IDN goes into headers as its A-label (xn--...)
        try:
            domain = parsed.domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError("not a valid email address") from exc
        parsed = Address(username=parsed.username, domain=domain)
    return parsed


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One mail to one recipient. Immutable; validated on construction."""

    to: str
    subject: str
    text: str
    html: str | None = None

    def __post_init__(self) -> None:
        parse_address(self.to)
        _reject_line_breaks("subject", self.subject)

    @property
    def recipient_domain(self) -> str:
        """The only part of the recipient that may be logged."""
        return recipient_domain(self.to)


def recipient_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower() or "?"


def build_email(
    message: MailMessage,
    settings: Settings | None = None,
    *,
    from_address: str | None = None,
    from_name: str | None = None,
) -> EmailMessage:
    """The MIME message: From from settings (MAIL_FROM_ADDRESS/MAIL_FROM_NAME) unless given explicitly.

    Text only -> one `text/plain; charset=utf-8` part; with HTML -> `multipart/alternative` (text first).
    Bodies are quoted-printable UTF-8; non-ASCII subjects are RFC 2047-encoded when serialized.
    """
    if from_address is None:
        if settings is None:
            raise ValueError("build_email needs settings or from_address")
        from_address = settings.mail_from_address
    if from_name is None:
        from_name = settings.mail_from_name if settings is not None else ""
    _reject_line_breaks("from name", from_name)
    sender = parse_address(from_address)
    recipient = parse_address(message.to)

    email = EmailMessage()
    email["From"] = Address(display_name=from_name, username=sender.username, domain=sender.domain)
    email["To"] = recipient
    email["Subject"] = message.subject
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = make_msgid(domain=sender.domain)  # an explicit domain: no slow getfqdn()
    # quoted-printable keeps every line 7-bit and short: safe through any relay, readable in the .eml
    email.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if message.html is not None:
        email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return email
