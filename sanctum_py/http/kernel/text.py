"""Text checks every wire's validation shares."""

from __future__ import annotations


def has_surrogates(value: str) -> bool:
    """Lone surrogates: what invalid UTF-8 in a form body decodes to (surrogateescape), and what JSON's
    `\\ud800` gives; no database or encoder can take them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
