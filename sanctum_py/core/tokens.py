"""Sanctum's personal-access-token wire format: pure functions, no I/O.

A token travels as `<id>|<secret>`; the database keeps only `sha256(secret)` in hex. New secrets use
Sanctum 4's form (optional prefix + 40 random `[A-Za-z0-9]` + crc32b of those 40 chars); Sanctum 2's
bare 40-character secrets verify the same way, since only the hash is compared.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from typing import NamedTuple

_ALPHABET = string.ascii_letters + string.digits
ENTROPY_LENGTH = 40
_UNIFORM_BELOW = 248  # the largest multiple of len(_ALPHABET) that fits in a byte
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[byte % len(_ALPHABET)]) for byte in range(256))
_NON_UNIFORM_BYTES = bytes(range(_UNIFORM_BELOW, 256))

# What PHP's `find($id)` accepts once the database has coerced the id: optional blanks and sign,
# then digits ("07" and " 7" both find row 7 on SQLite, PostgreSQL and MySQL alike).
_ID_PATTERN = re.compile(r"[ \t]*\+?([0-9]{1,19})[ \t]*")
_MAX_BIGINT = 2**63 - 1
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def random_string(length: int) -> str:
    """Laravel's Str::random: uniformly random characters from [A-Za-z0-9].

    One read of the CSPRNG per call, mapped in C by bytes.translate, rather than one read per
    character (secrets.choice), which showed up in the login profile. Bytes >= 248 are dropped so
    that the byte -> character map stays uniform (248 = 4 * 62)."""
    text = b""
    while len(text) < length:
        text += secrets.token_bytes(length + 16).translate(_BYTE_TO_CHAR, _NON_UNIFORM_BYTES)
    return text[:length].decode("ascii")


def generate_secret(prefix: str = "") -> str:
    """A Sanctum 4 secret: prefix + 40 random chars + crc32b (8 lowercase hex) of the 40 chars."""
    entropy = random_string(ENTROPY_LENGTH)
    return f"{prefix}{entropy}{zlib.crc32(entropy.encode('ascii')):08x}"


def hash_secret(secret: str) -> str:
    """The value stored in personal_access_tokens.token."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def hashes_match(stored_hash: str, secret: str) -> bool:
    """Constant-time comparison of a stored hash with the hash of a presented secret."""
    return hmac.compare_digest(stored_hash.encode("ascii", "replace"), hash_secret(secret).encode("ascii"))


class PresentedToken(NamedTuple):
    """A bearer value split the way Sanctum's findToken splits it."""

    token_id: int | None  # None: a bare secret, looked up by its hash
    secret: str


def parse_token(value: str) -> PresentedToken | None:
    """Split `<id>|<secret>` (or a bare secret). None when it can never match a row."""
    if not value:
        return None
    raw_id, bar, secret = value.partition("|")
    if not bar:
        return PresentedToken(None, value)
    if not secret:
        return None
    if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 19:  # the usual `123|...`, no regex needed
        token_id = int(raw_id)
    else:
        match = _ID_PATTERN.fullmatch(raw_id)
        if match is None:
            return None
        token_id = int(match.group(1))
    if token_id == 0 or token_id > _MAX_BIGINT:
        return None
    return PresentedToken(token_id, secret)


def bearer_token(authorization: str | None) -> str | None:
    """Laravel's Request::bearerToken(): what follows the last `Bearer `, cut at the first comma.

    Unlike Laravel 8 (which matches `Bearer ` case-sensitively) the scheme is matched in any ASCII
    case, as RFC 7235 says it should be.
    """
    if not authorization:
        return None
    # The usual header, `Bearer <token>` and nothing else: no fold, no search.
    token = authorization[7:]
    if authorization[:7].lower() == "bearer " and " " not in token and "," not in token and authorization.isascii():
        return token
    # Only ASCII letters are folded, so `folded` has the original's length and its index cuts the
    # original: str.lower() would turn "İ" into two characters and shift the cut.
    folded = authorization.lower() if authorization.isascii() else authorization.translate(_ASCII_LOWER)
    position = folded.rfind("bearer ")
    if position < 0:
        return None
    token = authorization[position + len("bearer ") :]
    return token.split(",", 1)[0]
