"""The one corner of PHP's serialize()/unserialize() that Laravel's encrypter needs: strings.

`encrypt($value)` serializes before encrypting, so a stored string is `s:<length>:"<bytes>";`, where the
length counts bytes (UTF-8 here), not characters, and the bytes are written as they are, without escaping.
Every other PHP type (and the rarely seen `S:` escaped-string form) is refused with PhpSerializeError.
"""

from __future__ import annotations

import re

_HEADER = re.compile(rb"s:([0-9]{1,10}):\"")


class PhpSerializeError(ValueError):
    """The data is not one PHP-serialized string."""


def serialize_string(value: str) -> bytes:
    """PHP's serialize() of a string: `s:<byte length>:"<value>";`."""
    raw = value.encode("utf-8")
    return b's:%d:"%s";' % (len(raw), raw)


def unserialize_string(data: bytes | str) -> str:
    """PHP's unserialize() of a string; anything else (other types, bad lengths, trailing bytes) raises."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    header = _HEADER.match(raw)
    if header is None:
        raise PhpSerializeError('expected a PHP-serialized string (s:<length>:"...";)')
    start = header.end()
    end = start + int(header.group(1))
    if raw[end : end + 2] != b'";' or len(raw) != end + 2:
        raise PhpSerializeError("the declared string length does not match the data")
    try:
        return raw[start:end].decode("utf-8")
    except UnicodeDecodeError as error:
        raise PhpSerializeError("the serialized string is not valid UTF-8") from error
