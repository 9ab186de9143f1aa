"""The envelope's input rules: every broken field, each with a Turkish message and a machine `code`.

Failures come back as `errors: [{"field", "message", "code"}]` (422 VALIDATION_ERROR), one entry per
field (its first broken rule), in rule order. Codes: REQUIRED, INVALID_TYPE, INVALID_FORMAT, TOO_SHORT,
TOO_LONG, INVALID_VALUE (and ALREADY_EXISTS, from the core's IDENTIFIER_TAKEN, in render.py). Input
arrives as Laravel reads it (trimmed, `""` as null), so `required` refuses blanks too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sanctum_py.http.kernel.text import has_surrogates
from sanctum_py.http.laravel.validation import is_rfc_email

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    code: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class InvalidInput(Exception):
    """Rendered as the envelope's 422 VALIDATION_ERROR."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(error.field for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Field:
    name: str
    required: bool = False
    boolean: bool = False  # a JSON true/false (rememberMe); otherwise a string
    email: bool = False
    uuid: bool = False  # returned lower-cased, so tenants compare as one spelling
    min: int | None = None
    max: int | None = None  # characters
    max_bytes: int | None = None  # UTF-8 bytes (bcrypt reads 72)
    one_of: tuple[str, ...] = ()


def validate(data: Mapping[str, Any], fields: Sequence[Field]) -> dict[str, Any]:
    """The values of `fields` (absent as None); InvalidInput listing every broken field."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field in fields:
        value = data.get(field.name)
        error = _check(value, field)
        if error is not None:
            errors.append(error)
        elif field.uuid and isinstance(value, str):
            values[field.name] = value.lower()
        else:
            values[field.name] = value
    if errors:
        raise InvalidInput(errors)
    return values


def _check(value: Any, field: Field) -> FieldError | None:
    name = field.name

    def broken(code: str, message: str) -> FieldError:
        return FieldError(name, message, code)

    if value is None:
        return broken("REQUIRED", f"{name} alanı zorunludur") if field.required else None
    if field.boolean:
        return None if isinstance(value, bool) else broken("INVALID_TYPE", f"{name} true veya false olmalıdır")
    if not isinstance(value, str):
        return broken("INVALID_TYPE", f"{name} metin olmalıdır")
    if "\x00" in value or has_surrogates(value):
        return broken("INVALID_FORMAT", f"{name} geçersiz karakterler içeriyor")
    if field.email and not is_rfc_email(value):
        return broken("INVALID_FORMAT", f"{name} geçerli bir e-posta adresi olmalıdır")
    if field.uuid and UUID.fullmatch(value) is None:
        return broken("INVALID_FORMAT", f"{name} geçerli bir UUID olmalıdır")
    if field.one_of and value not in field.one_of:
        return broken("INVALID_VALUE", f"{name} şunlardan biri olmalıdır: {', '.join(field.one_of)}")
    if field.min is not None and len(value) < field.min:
        return broken("TOO_SHORT", f"{name} en az {field.min} karakter olmalıdır")
    if field.max is not None and len(value) > field.max:
        return broken("TOO_LONG", f"{name} en fazla {field.max} karakter olabilir")
    if field.max_bytes is not None and len(value.encode("utf-8")) > field.max_bytes:
        return broken("TOO_LONG", f"{name} en fazla {field.max_bytes} bayt olabilir")
    return None
