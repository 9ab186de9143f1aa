"""v1's input rules and their Turkish messages: each field's first broken rule, fields in rule order.

`{"error": "<first message>", "fields": {"<field>": "<message>", ...}}` (422). Input arrives as Laravel
reads it (trimmed, `""` as null), so `required` refuses blanks too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sanctum_py.http.kernel.text import has_surrogates
from sanctum_py.http.laravel.validation import is_rfc_email


class InvalidInput(Exception):
    """Rendered as v1's 422."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True)
class Field:
    name: str
    required: bool = False
    integer: bool = False  # Laravel's `integer` ("2" passes); otherwise a string
    email: bool = False
    min: int | None = None
    max: int | None = None  # characters
    max_bytes: int | None = None  # UTF-8 bytes (bcrypt reads 72)
    one_of: tuple[int, ...] = ()  # for integers: the allowed values
    alias: str | None = None  # another name a client may send it under (the seed's `password_hash`)


def validate(data: Mapping[str, Any], fields: Sequence[Field]) -> dict[str, Any]:
    """The values of `fields` (integers as int, absent as None); InvalidInput when any rule fails."""
    values: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for field in fields:
        name, value = field.name, data.get(field.name)
        if value is None and field.alias is not None and data.get(field.alias) is not None:
            name, value = field.alias, data[field.alias]
        message = _check(name, value, field)
        if message is not None:
            failures[name] = message
        else:
            values[field.name] = int(value) if field.integer and value is not None else value
    if failures:
        raise InvalidInput(failures)
    return values


def _check(name: str, value: Any, field: Field) -> str | None:
    if value is None:
        return f"{name} alanı zorunludur." if field.required else None
    if field.integer:
        return _check_integer(name, value, field)
    if not isinstance(value, str):
        return f"{name} metin olmalıdır."
    if "\x00" in value or has_surrogates(value):
        return f"{name} geçersiz karakterler içeriyor."
    if field.email and not is_rfc_email(value):
        return f"{name} geçerli bir e-posta adresi olmalıdır."
    if field.min is not None and len(value) < field.min:
        return f"{name} en az {field.min} karakter olmalıdır."
    if field.max is not None and len(value) > field.max:
        return f"{name} en fazla {field.max} karakter olabilir."
    if field.max_bytes is not None and len(value.encode("utf-8")) > field.max_bytes:
        return f"{name} en fazla {field.max_bytes} bayt olabilir."
    return None


def _check_integer(name: str, value: Any, field: Field) -> str | None:
    whole = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, str):
        digits = value.removeprefix("-")
        whole = digits.isascii() and digits.isdigit() and len(digits) < 19
    if not whole:
        return f"{name} tam sayı olmalıdır."
    if field.one_of and int(value) not in field.one_of:
        return f"{name} geçerli bir rol olmalıdır."
    return None
