"""Laravel 8 validation semantics on top of pydantic input models.

Each field of an input model carries its Laravel rules as `Annotated` metadata, in rule order:

    name: Annotated[str, Rules(REQUIRED, STRING, Max(255))]

`validate_input` runs them the way Illuminate\\Validation\\Validator does (every rule of a field, stop
after a failed implicit rule such as `required`, skip non-implicit rules for absent fields and for
nulls under `nullable`), builds Laravel's error bag in field order, and only then lets pydantic build
the typed model the handler receives. One declaration gives both the exact wire errors and the types.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from sanctum_py.http.kernel.text import has_surrogates
from sanctum_py.http.laravel.input import PHP_TRIM

MESSAGE = "The given data was invalid."

UniqueCheck = Callable[[str, str], Awaitable[bool]]
"""(column, value) -> True when the value is already taken."""


class ValidationFailed(Exception):
    """Rendered as Laravel's 422 `{"message": ..., "errors": {field: [messages]}}`."""

    def __init__(self, errors: dict[str, list[str]], message: str = MESSAGE) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


def display_name(attribute: str) -> str:
    return attribute.replace("_", " ")


class Rule:
    implicit = False  # implicit rules run on absent/empty values and stop the field when they fail

    def message(self, attribute: str, value: Any) -> str | None:
        """None when the value passes; otherwise Laravel's message."""
        raise NotImplementedError


class Required(Rule):
    implicit = True

    def message(self, attribute: str, value: Any) -> str | None:
        # validateRequired: null, a string PHP's trim() empties ("   " in an untrimmed password), or []
        empty = value is None or _blank(value) or (isinstance(value, (list, dict)) and len(value) == 0)
        return f"The {display_name(attribute)} field is required." if empty else None


def _blank(value: Any) -> bool:
    return isinstance(value, str) and value.strip(PHP_TRIM) == ""


class Nullable(Rule):
    def message(self, attribute: str, value: Any) -> str | None:
        return None


class String(Rule):
    def message(self, attribute: str, value: Any) -> str | None:
        return None if isinstance(value, str) else f"The {display_name(attribute)} must be a string."


class CleanText(Rule):
    """Ours, not Laravel's: a NUL byte or invalid UTF-8 is refused instead of crashing the database."""

    def message(self, attribute: str, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        if "\0" in value or has_surrogates(value):
            return f"The {display_name(attribute)} contains invalid characters."
        return None


def _size(value: Any) -> tuple[int, str]:
    """Laravel's getSize + getAttributeType for fields without numeric rules."""
    if isinstance(value, (list, dict)):
        return len(value), "array"
    if isinstance(value, bool):
        return (1 if value else 0), "string"  # PHP: (string) true === "1", (string) false === ""
    if isinstance(value, str):
        return len(value), "string"  # mb_strlen counts code points, as len() does
    if value is None:
        return 0, "string"
    return len(php_string(value)), "string"


def php_string(value: Any) -> str:
    """(string) $value for what json_decode produces; floats as PHP writes them (precision 14)."""
    if not isinstance(value, float):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NAN", "inf": "INF", "-inf": "-INF"}[str(value)]
    text = f"{value:.14G}"
    if "E" in text:  # 1.0E+25, 1.5E-7: a ".0" when the mantissa has no point, no exponent padding
        mantissa, exponent = text.split("E")
        mantissa = mantissa if "." in mantissa else mantissa + ".0"
        text = f"{mantissa}E{exponent[0]}{exponent[1:].lstrip('0')}"
    return text


@dataclass(frozen=True)
class Max(Rule):
    limit: int

    def message(self, attribute: str, value: Any) -> str | None:
        size, kind = _size(value)
        if size <= self.limit:
            return None
        if kind == "array":
            return f"The {display_name(attribute)} must not have more than {self.limit} items."
        return f"The {display_name(attribute)} must not be greater than {self.limit} characters."


@dataclass(frozen=True)
class Min(Rule):
    limit: int

    def message(self, attribute: str, value: Any) -> str | None:
        size, kind = _size(value)
        if size >= self.limit:
            return None
        if kind == "array":
            return f"The {display_name(attribute)} must have at least {self.limit} items."
        return f"The {display_name(attribute)} must be at least {self.limit} characters."


@dataclass(frozen=True)
class MaxBytes(Rule):
    """Ours, not Laravel's: a string of at most `limit` bytes of UTF-8. For new passwords, which bcrypt
    would silently cut at 72 bytes (ASVS 2.1.3); non-strings are left to `string`."""

    limit: int

    def message(self, attribute: str, value: Any) -> str | None:
        if not isinstance(value, str) or len(value.encode("utf-8", "surrogatepass")) <= self.limit:
            return None
        return f"The {display_name(attribute)} must not be greater than {self.limit} bytes."


class Email(Rule):
    def message(self, attribute: str, value: Any) -> str | None:
        if isinstance(value, str) and is_rfc_email(value):
            return None
        return f"The {display_name(attribute)} must be a valid email address."


@dataclass(frozen=True)
class Unique(Rule):
    """Checked against the database by the UniqueCheck the caller passes in."""

    column: str

    def message(self, attribute: str, value: Any) -> str | None:  # pragma: no cover - async rule
        return None

    @staticmethod
    def taken_message(attribute: str) -> str:
        return f"The {display_name(attribute)} has already been taken."


class Confirmed(Rule):
    """Applied through `validate_input`, which can see `<field>_confirmation`."""

    def message(self, attribute: str, value: Any) -> str | None:  # pragma: no cover - needs data
        return None

    @staticmethod
    def mismatch_message(attribute: str) -> str:
        return f"The {display_name(attribute)} confirmation does not match."


class Boolean(Rule):
    """Laravel's `boolean`: true, false, 1, 0, "1", "0"."""

    def message(self, attribute: str, value: Any) -> str | None:
        accepted = value in (True, False, 1, 0, "1", "0") and not isinstance(value, float)
        return None if accepted else f"The {display_name(attribute)} field must be true or false."


class StringList(Rule):
    """`array` whose items are all strings (as `abilities.*` => `string`), reported as Laravel's `array`."""

    def message(self, attribute: str, value: Any) -> str | None:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return None
        return f"The {display_name(attribute)} must be an array of strings."


REQUIRED = Required()
BOOLEAN = Boolean()
STRING_LIST = StringList()
NULLABLE = Nullable()
STRING = String()
EMAIL = Email()
CONFIRMED = Confirmed()
CLEAN = CleanText()
# A new password: bcrypt reads only its first 72 bytes. Listed after Laravel's rules, so their messages
# keep their places and this one comes last.
BCRYPT_BYTES = MaxBytes(72)


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", rules)


# --- RFC 5322 addresses, close to egulias/email-validator's RFCValidation (Laravel's `email` rule) ---
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_LITERAL = r"\[(?:[0-9.]+|IPv6:[0-9A-Fa-f:.]+)\]"
_EMAIL = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@(?:{_DOMAIN}|{_LITERAL})")


def is_rfc_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


ModelT = TypeVar("ModelT", bound=BaseModel)


def field_rules(model: type[BaseModel]) -> dict[str, tuple[Rule, ...]]:
    rules: dict[str, tuple[Rule, ...]] = {}
    for name, info in model.model_fields.items():
        declared = next((meta for meta in info.metadata if isinstance(meta, Rules)), None)
        rules[info.alias or name] = declared.rules if declared else ()
    return rules


async def validate_input(model: type[ModelT], data: dict[str, Any], unique: UniqueCheck | None = None) -> ModelT:
    """Apply the model's Laravel rules to `data`; raise ValidationFailed or return the typed model."""
    errors: dict[str, list[str]] = {}
    for attribute, rules in field_rules(model).items():
        messages = await _check_field(attribute, (CLEAN, *rules), data, unique)
        if messages:
            errors[attribute] = messages
    if errors:
        raise ValidationFailed(errors)
    present = {name: data.get(name) for name in field_rules(model) if name in data}
    return model.model_validate(present)


async def _check_field(
    attribute: str, rules: tuple[Rule, ...], data: dict[str, Any], unique: UniqueCheck | None
) -> list[str]:
    value = data.get(attribute)
    present = attribute in data
    nullable = any(isinstance(rule, Nullable) for rule in rules)
    messages: list[str] = []
    for rule in rules:
        if not rule.implicit:
            if not present or (value is None and nullable):
                continue
            if _blank(value):  # presentOrRuleIsImplicit: only implicit rules see a blank string
                continue
        failure: str | None
        if isinstance(rule, Confirmed):
            same = _identical(value, data.get(f"{attribute}_confirmation"))
            failure = None if same else rule.mismatch_message(attribute)
        elif isinstance(rule, Unique):
            bound = _bound_value(value)
            taken = unique is not None and bound is not None and await unique(rule.column, bound)
            failure = rule.taken_message(attribute) if taken else None
        else:
            failure = rule.message(attribute, value)
        if failure is None:
            continue
        messages.append(failure)
        if rule.implicit or isinstance(rule, CleanText):
            break
    return messages


def _identical(left: Any, right: Any) -> bool:
    """PHP's === on decoded input: same types throughout, arrays with the same keys in the same order.
    Iterative: a 512-deep body must not exhaust the stack."""
    pairs = [(left, right)]
    while pairs:
        a, b = pairs.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, list):
            if len(a) != len(b):
                return False
            pairs.extend(zip(a, b, strict=True))
        elif isinstance(a, dict):
            if list(a) != list(b):
                return False
            pairs.extend((a[key], b[key]) for key in a)
        elif a != b:
            return False
    return True


def _bound_value(value: Any) -> str | None:
    """What `unique` compares: the query builder binds the first scalar of an array (head of its
    flattened values), PDO a scalar's string form. None (null, no scalar at all) matches no row."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, dict)):
            stack.extend(reversed(list(item.values()) if isinstance(item, dict) else item))
            continue
        if item is None:
            return None
        if isinstance(item, bool):
            return "1" if item else ""
        text = item if isinstance(item, str) else php_string(item)
        # NUL or invalid UTF-8 is in no stored row, and would make the database reject the query
        return None if "\0" in text or has_surrogates(text) else text
    return None
