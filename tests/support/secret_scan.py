"""No secret in any log: the whole suite runs with logging at DEBUG into a file, and at the end of the
session not one of the secrets the suite has seen may occur in it.

Registered from tests/conftest.py (`pytest_plugins`). What counts as a secret, and where it is seen:
- every token in a response body (access, refresh, challenge, the bare /sanctum/token text), every TOTP
  secret (`secretKey`, the otpauth URL) and recovery code; ContractClient reports every exchange here;
- every password, reset token, recovery code and bearer token a test *sends* (request bodies, headers);
- reset tokens and verification signatures in the mails the test SMTP server receives.
The log is everything the process logs (root, aiohttp, sanctum_py, tortoise with its SQL parameters,
aiosqlite, asyncio, at DEBUG) plus the output of the CLI processes tests start (`record_output`).

Not counted, on purpose:
- values shorter than MIN_LENGTH (TOTP codes are 6 digits, test passwords such as "short" or "y"): they
  collide with ports, timestamps and ordinary words, and say nothing about a leak;
- lower-case words (the password "password" is also a column name in every logged SQL statement);
- aiosmtpd's own log ("mail.log", kept at WARNING): it is the test double of the *receiving* mail server,
  which is meant to see the reset link. What our SMTP client logs is scanned.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

if TYPE_CHECKING:
    from tests.support.contract import WireResponse

MIN_LENGTH = 8
GRAM = 8  # the scanner's window; secrets of 2 * GRAM - 1 characters or more are found through the index
DEBUG_LOGGERS = ("", "aiohttp", "sanctum_py", "tortoise", "aiosqlite", "asyncio")
QUIET_LOGGERS = {"mail.log": logging.WARNING}  # aiosmtpd, the receiving end (see above)
SENT_SECRET_FIELDS = frozenset(
    {"password", "password_confirmation", "current_password", "token", "refresh_token", "challenge_token"}
    | {"password_hash"}  # the v1 dialect's alias of `password` (seed 001's column name), a plain password
    | {"recovery_code", "code"}
    | {"newPassword", "refreshToken"}  # the envelope dialect's (seed 003) camelCase names
)
RECEIVED_SECRET_FIELDS = frozenset(
    {"access_token", "refresh_token", "challenge_token", "secretKey", "token"} | {"refreshToken"}
)
LINK = re.compile(r"https?://\S+")


class SecretBook:
    """Every secret seen, with where it was first seen (for the failure report)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def add(self, value: object, where: str) -> None:
        if not isinstance(value, str) or not _worth_scanning(value):
            return
        self.seen.setdefault(value, where)
        # `<id>|<secret>`: the secret alone is the credential (Sanctum accepts a bare secret).
        _, bar, secret = value.partition("|")
        if bar and _worth_scanning(secret):
            self.seen.setdefault(secret, where)


def _worth_scanning(value: str) -> bool:
    return len(value.strip()) >= MIN_LENGTH and not (value.isalpha() and value.islower())


BOOK = SecretBook()


# --- what the suite sees ---------------------------------------------------------------------------


def observe_exchange(method: str, path: str, sent: Mapping[str, Any], response: WireResponse) -> None:
    """One request made through ContractClient and its response."""
    where = f"{method} {path}"
    for name, value in (sent.get("headers") or {}).items():
        if name.lower() == "authorization" and isinstance(value, str):
            BOOK.add(value.partition(" ")[2].split(",", 1)[0], f"Authorization sent to {where}")
    for body in (sent.get("json"), sent.get("data")):
        _walk_sent(_decoded(body), f"body sent to {where}")
    content_type = response.headers.get("Content-Type", "")
    if response.status == 200 and content_type.startswith("text/plain") and path.startswith("/sanctum/token"):
        BOOK.add(response.text, f"body of {where}")
    elif content_type.startswith("application/json") and response.body:
        _walk_received(json.loads(response.body), path, f"body of {where}")


def observe_mail(raw: bytes) -> None:
    """A mail the test SMTP server received: reset tokens and verification signatures in its links."""
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("plain",))
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    for link in LINK.findall(text):
        url = urlsplit(link)
        segments = url.path.split("/")
        if "reset-password" in segments[:-1]:
            BOOK.add(segments[segments.index("reset-password") + 1], "reset link in a mail")
        for name, values in parse_qs(url.query).items():
            if name in ("token", "signature"):
                for value in values:
                    BOOK.add(value, f"{name} in a mailed link")


def remember(value: str, where: str) -> None:
    """A secret a test uses outside ContractClient (an SMTP password, say)."""
    BOOK.add(value, where)


def _decoded(body: object) -> object:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # the suite sends hostile bodies, nested past the parser's depth
            return dict(parse_qsl(body))
    return body


def _walk_sent(node: object, where: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in SENT_SECRET_FIELDS:
                BOOK.add(value, where)
            _walk_sent(value, where)
    elif isinstance(node, list):
        for item in node:
            _walk_sent(item, where)


def _walk_received(node: object, path: str, where: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in RECEIVED_SECRET_FIELDS:
                BOOK.add(value, where)
            elif key == "url" and isinstance(value, str) and value.startswith("otpauth://"):
                for secret in parse_qs(urlsplit(value).query).get("secret", []):
                    BOOK.add(secret, where)
            _walk_received(value, path, where)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and "two-factor-recovery-codes" in path:
                BOOK.add(item, where)
            _walk_received(item, path, where)


# --- the scanner -------------------------------------------------------------------------------------


def find_leaks(haystack: str, secrets: Iterable[str]) -> set[str]:
    """The secrets that occur anywhere in `haystack`, in about one pass over it whatever their number.

    Checking each of thousands of secrets with `in` against a log of tens of megabytes would read it
    thousands of times. Instead every GRAM-character window of every long secret goes into an index, and
    the log is sampled at every GRAM-th position: an occurrence of a secret of 2 * GRAM - 1 characters or
    more covers at least one sampled position p with its window haystack[p : p + GRAM] wholly inside the
    secret, so it is in the index. Only the secrets behind a hit are then confirmed with `in`. Shorter
    secrets (few: passwords) are checked with `in` directly.
    """
    index: dict[str, list[str]] = defaultdict(list)
    short: list[str] = []
    for secret in set(secrets):
        if len(secret) < 2 * GRAM - 1:
            short.append(secret)
            continue
        for start in range(len(secret) - GRAM + 1):
            index[secret[start : start + GRAM]].append(secret)
    starts = range(0, len(haystack) - GRAM + 1, GRAM)
    windows = map(haystack.__getitem__, map(slice, starts, range(GRAM, len(haystack) + 1, GRAM)))
    hits = set(filter(index.__contains__, windows))  # map/filter: the loop runs in C, not in bytecode
    candidates = {secret for window in hits for secret in index[window]}
    return {secret for secret in [*short, *candidates] if secret in haystack}


# --- the sink and the verdict -------------------------------------------------------------------------


class LogSink:
    """A DEBUG file handler on the root logger, with the levels that let every record reach it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._levels: dict[str, int] = {}

    def install(self) -> None:
        for name, level in [*((n, logging.DEBUG) for n in DEBUG_LOGGERS), *QUIET_LOGGERS.items()]:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(level)
        logging.getLogger().addHandler(self.handler)

    def remove(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)

    def write(self, text: str) -> None:
        self.handler.acquire()
        try:
            self.handler.stream.write(text)
        finally:
            self.handler.release()


_sink: LogSink | None = None
_summary: list[str] = []  # what the scan did, for the terminal summary


def record_output(source: str, output: str | None) -> None:
    """Add what a child process printed (its logs) to the scanned log; nothing when the scan is off."""
    if _sink is not None and output:
        _sink.write(f"--- output of {source} ---\n{output}\n--- end of output ---\n")


def describe(leaks: set[str], haystack: str, book: Mapping[str, str]) -> str:
    lines = []
    for secret in sorted(leaks, key=lambda s: book.get(s, "")):
        position = haystack.find(secret)
        start = haystack.rfind("\n", 0, position) + 1
        end = haystack.find("\n", position)
        line = haystack[start : end if end >= 0 else len(haystack)]
        lines.append(f"- {secret!r} ({book.get(secret, '?')}) logged in: {line[:300]!r}")
    return "\n".join(lines)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    global _sink
    sink = LogSink(tmp_path_factory.mktemp("log-sink") / "debug.log")
    sink.install()
    _sink = sink
    try:
        yield
    finally:
        _sink = None
        sink.remove()
    started = time.perf_counter()
    haystack = sink.path.read_text(encoding="utf-8", errors="replace")
    leaks = find_leaks(haystack, BOOK.seen)
    _summary.append(
        f"secret scan: {len(BOOK.seen)} secrets against {len(haystack) / 1e6:.1f} MB of DEBUG log "
        f"in {time.perf_counter() - started:.1f} s: {len(leaks)} found"
    )
    if leaks:
        pytest.fail(
            f"{len(leaks)} of the {len(BOOK.seen)} secrets the suite saw occur in the DEBUG log {sink.path}:\n"
            + describe(leaks, haystack, BOOK.seen),
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _summary:
        terminalreporter.write_line(line)
