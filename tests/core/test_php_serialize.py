"""PHP serialize()/unserialize() for strings, byte-exact."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sanctum_py.core.php_serialize import PhpSerializeError, serialize_string, unserialize_string


@pytest.mark.parametrize(
    ("value", "serialized"),
    [
        ("MFTRNOO77EFREB7E", b's:16:"MFTRNOO77EFREB7E";'),
        ("", b's:0:"";'),
        ("şifreÇok123", 's:13:"şifreÇok123";'.encode()),  # 11 characters, 13 bytes
        ("😀", 's:4:"😀";'.encode()),
        ('say "hi";', b's:9:"say "hi";";'),  # quotes are not escaped: the length says where it ends
    ],
)
def test_serialize_counts_utf8_bytes(value: str, serialized: bytes) -> None:
    assert serialize_string(value) == serialized
    assert unserialize_string(serialized) == value


def test_unserializes_what_laravel_stored(fortify: dict[str, Any]) -> None:
    raw = fortify["decrypt_with_unserialize_false"]
    assert unserialize_string(raw["two_factor_secret"]) == fortify["secret_plaintext"]
    codes = unserialize_string(raw["two_factor_recovery_codes"])
    assert json.loads(codes) == fortify["recovery_codes_plaintext"]
    assert serialize_string(codes).decode() == raw["two_factor_recovery_codes"]


@pytest.mark.parametrize(
    "data",
    [
        b"i:5;",
        b"b:1;",
        b"N;",
        b'a:1:{i:0;s:1:"a";}',
        b'S:1:"a";',  # the escaped-string form PHP never writes for serialize()
        b's:3:"ab";',  # declared length too long
        b's:1:"ab";',  # declared length too short
        b's:2:"ab";x',  # trailing bytes
        b's:2:"ab"',  # no terminator
        b's:-1:"";',
        b's::"";',
        b's:2:"\xff\xfe";',  # not UTF-8
        b"",
    ],
)
def test_rejects_everything_else(data: bytes) -> None:
    with pytest.raises(PhpSerializeError):
        unserialize_string(data)
