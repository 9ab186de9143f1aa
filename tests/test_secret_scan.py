"""The suite's secret scan can fail: planted secrets are found wherever they sit, and what it collects is
what the suite handles (tests/support/secret_scan.py)."""

from __future__ import annotations

import logging
import random
import string
from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from tests.support.contract import WireResponse
from tests.support.secret_scan import BOOK as SUITE_BOOK
from tests.support.secret_scan import GRAM, MIN_LENGTH, LogSink, SecretBook, find_leaks, observe_exchange

ALPHABET = string.ascii_letters + string.digits


def noise(size: int, seed: int) -> str:
    """Log-like text: words, numbers and hex, with newlines."""
    rng = random.Random(seed)
    words = ["INFO", "DEBUG", "tortoise.db_client:", "SELECT", '"users"', "WHERE", "id=?", "[42]", "\n"]
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(words) if rng.random() < 0.7 else "".join(rng.choices("0123456789abcdef", k=64)))
    return " ".join(parts)[:size]


def random_secret(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(ALPHABET, k=length))


@pytest.mark.parametrize("length", [MIN_LENGTH, 2 * GRAM - 2, 2 * GRAM - 1, 2 * GRAM, 21, 48, 64])
def test_a_planted_secret_is_found_at_every_offset(length: int) -> None:
    rng = random.Random(length)
    base = noise(20_000, seed=length)
    others = [random_secret(rng, rng.choice([16, 21, 40, 48, 64])) for _ in range(100)]
    secret = random_secret(rng, length)
    for offset in [0, *range(1000, 1000 + 2 * GRAM + 1), len(base)]:
        haystack = base[:offset] + secret + base[offset:]
        assert find_leaks(haystack, [*others, secret]) == {secret}, offset
    assert find_leaks(base, [*others, secret]) == set()


def test_a_near_miss_is_not_a_leak() -> None:
    secret = "7|" + random_secret(random.Random(1), 48)
    haystack = noise(5_000, seed=1) + secret[:-1] + "#" + noise(5_000, seed=2)
    assert find_leaks(haystack, [secret, secret[2:]]) == set()


def test_the_sink_catches_what_any_logger_writes_at_debug(tmp_path: Path) -> None:
    """The scan's file handler and levels: a DEBUG line from the SQL logger (the one production keeps at
    INFO) reaches the sink, so a secret in a query parameter would fail the suite."""
    sink = LogSink(tmp_path / "debug.log")
    sink.install()
    secret = random_secret(random.Random(2), 40)
    try:
        logging.getLogger("tortoise.db_client").debug("SELECT ... [%r]", secret)
        sink.write("--- output of a child process ---\nplain line\n")
    finally:
        sink.remove()
    text = sink.path.read_text(encoding="utf-8")
    assert find_leaks(text, [secret, "plain line"]) == {secret, "plain line"}


def test_the_book_keeps_secrets_and_their_bare_form_but_not_words() -> None:
    book = SecretBook()
    book.add("12|" + "a1" * 24, "a token")
    book.add("short", "a short password")
    book.add("password", "a word that is also a column name")
    book.add("        ", "blank")
    book.add("password123", "a password")
    assert set(book.seen) == {"12|" + "a1" * 24, "a1" * 24, "password123"}


def test_exchanges_feed_the_book() -> None:
    """What ContractClient reports: sent passwords and bearer tokens, received tokens and 2FA secrets."""
    token, secret_key = "3|" + "Z9" * 24, "JBSWY3DPEHPK3PXP"
    codes = ["AbCdEfGhIj-KlMnOpQrSt", "ZyXwVuTsRq-PoNmLkJiHg"]
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
    sent = {"json": {"password": "planted-password-1"}, "headers": {"Authorization": f"Bearer {token}"}}
    observe_exchange("POST", "/api/x", sent, WireResponse("POST", "/api/x", 200, headers, b'{"access_token":"4|q"}'))
    body = b'{"secretKey":"' + secret_key.encode() + b'"}'
    observe_exchange("GET", "/api/user/two-factor-secret-key", {}, WireResponse("GET", "/", 200, headers, body))
    body = ('["' + '","'.join(codes) + '"]').encode()
    observe_exchange("GET", "/api/user/two-factor-recovery-codes", {}, WireResponse("GET", "/", 200, headers, body))
    assert {"planted-password-1", token, token[2:], secret_key, *codes} <= set(SUITE_BOOK.seen)
