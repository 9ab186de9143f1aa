"""Shared test data for the mail tests."""

from __future__ import annotations

from email.message import EmailMessage

from sanctum_py.settings import Settings

TEST_APP_KEY = "base64:1oZSECVBtWwUcL3mQQmv7fdDJT042gsQCCDR8WVOlrQ="
SUBJECT = "Şifre sıfırlama bağlantınız — İĞÜŞÖÇ ığüşöç"
TEXT = "Merhaba Ayşe,\nşifrenizi sıfırlamak için bağlantıya tıklayın: https://example.test/reset/abc\n"
HTML = "<p>Merhaba <b>Ayşe</b>, <a href='https://example.test/reset/abc'>şifreni sıfırla</a></p>\n"


def text_of(part: EmailMessage | None) -> str:
    """Decoded text of a MIME part, line endings normalized (on the wire and in .eml files they are CRLF)."""
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, app_key=TEST_APP_KEY, **overrides)  # type: ignore[call-arg]
