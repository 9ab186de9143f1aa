"""Helpers for the v1 dialect's wire tests (seeds 000/001, /api/v1/auth): exact bodies, formats, headers.

Expected bodies are built as the spec writes them (`json.dumps(..., ensure_ascii=False, separators=(",", ":"))`)
and compared byte for byte, which also pins the key order; only ids, tokens and timestamps are read from
the response (their formats checked by regex) or from the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from sanctum_py.db.models import User
from tests.support.contract import ContractClient, WireResponse
from tests.support.db import query, stored_time

BASE = "/api/v1/auth"
JSON = {"Content-Type": "application/json"}
TOKEN = re.compile(r"^(?P<id>[1-9][0-9]*)\|(?P<secret>[A-Za-z0-9]{40,})$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
USER_KEYS = [
    "user_id",
    "role_id",
    "username",
    "email",
    "name",
    "last_name",
    "created_at",
    "updated_at",
    "last_login",
]
ROLE_IDS = {"admin": 1, "user": 2, "staff": 3}  # V1_ROLE_IDS' default
TOKEN_VIEW_KEYS = ["token_id", "token", "token_type", "expiration_time", "created_at", "refresh_token", "user"]

# The spec's messages, exactly.
ALREADY_REGISTERED = {"error": "Kullanıcı zaten kayıtlı."}
FORBIDDEN = {"error": "Bu işlem için yetkiniz yok."}
BAD_CREDENTIALS = {"error": "Kullanıcı adı veya şifre hatalı."}
DEACTIVATED = {"error": "Hesabınız devre dışı bırakılmış."}
BAD_CODE = {"error": "Doğrulama kodu geçersiz."}
LOGGED_OUT = {"message": "Oturum sonlandırıldı."}
BAD_REFRESH = {"error": "Yenileme tokenı geçersiz veya süresi dolmuş."}
RESET_SENT = {"message": "Şifre sıfırlama bağlantısı e-posta adresinize gönderildi."}
RESET_DONE = {"message": "Şifreniz başarıyla sıfırlandı."}
BAD_RESET = {"error": "Şifre sıfırlama tokenı geçersiz veya süresi dolmuş."}
VERIFIED = {"message": "E-posta adresiniz doğrulandı."}
BAD_VERIFICATION = {"error": "Doğrulama tokenı geçersiz veya süresi dolmuş."}
VERIFICATION_SENT = {"message": "Doğrulama e-postası gönderildi."}
ALREADY_VERIFIED = {"message": "E-posta adresiniz zaten doğrulanmış."}
INVALID_SESSION = {"error": "Oturum geçersiz, lütfen tekrar giriş yapın."}
EXPIRED_SESSION = {"error": "Oturum süresi doldu, lütfen tekrar giriş yapın."}
NOT_FOUND = {"error": "Bulunamadı."}
NOT_ALLOWED = {"error": "Bu istek yöntemi desteklenmiyor."}
NOT_AN_OBJECT = {"error": "İstek gövdesi geçerli bir JSON nesnesi değil."}
TOO_LARGE = {"error": "İstek gövdesi çok büyük."}
UNAVAILABLE = {"error": "Hizmet geçici olarak kullanılamıyor."}
TOO_MANY = re.compile(r"^Çok fazla deneme\. Lütfen (?P<seconds>[0-9]+) saniye sonra tekrar deneyin\.$")

# Seed 001's example user.
PASSWORD = "mysecretpassword"
SEED_USER = {
    "username": "kullanici123",
    "email": "kullanici123@example.com",
    "password": PASSWORD,
    "name": "John",
    "last_name": "Doe",
}


# --- the wire ------------------------------------------------------------------------------------------


def wire(body: Any) -> bytes:
    """A body as the spec says v1 writes it: compact, UTF-8, Turkish letters as they are."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def expect(response: WireResponse, status: int, body: Any) -> None:
    """Exact status, exact bytes (so exact key order), JSON, nosniff."""
    assert response.status == status, (response.status, response.text)
    assert response.body == wire(body), response.text
    if isinstance(body, dict):
        assert list(response.json()) == list(body)
    assert_v1_headers(response)


def assert_v1_headers(response: WireResponse) -> None:
    assert response.headers["Content-Type"].split(";", 1)[0].strip() == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def assert_no_store(response: WireResponse) -> None:
    assert response.headers["Cache-Control"] == "no-store"


def invalid(*fields: tuple[str, str]) -> dict[str, Any]:
    """The 422 body: the first message as `error`, then every field with its message, in rule order."""
    return {"error": fields[0][1], "fields": dict(fields)}


def required(field: str) -> tuple[str, str]:
    return field, f"{field} alanı zorunludur."


def not_string(field: str) -> tuple[str, str]:
    return field, f"{field} metin olmalıdır."


def bad_email(field: str = "email") -> tuple[str, str]:
    return field, f"{field} geçerli bir e-posta adresi olmalıdır."


def too_short(field: str, n: int) -> tuple[str, str]:
    return field, f"{field} en az {n} karakter olmalıdır."


def too_long(field: str, n: int) -> tuple[str, str]:
    return field, f"{field} en fazla {n} karakter olabilir."


def too_many_bytes(field: str) -> tuple[str, str]:
    return field, f"{field} en fazla 72 bayt olabilir."


def bad_characters(field: str) -> tuple[str, str]:
    return field, f"{field} geçersiz karakterler içeriyor."


def bad_role(field: str = "role_id") -> tuple[str, str]:
    return field, f"{field} geçerli bir rol olmalıdır."


def not_integer(field: str) -> tuple[str, str]:
    return field, f"{field} tam sayı olmalıdır."


def assert_too_many(response: WireResponse, *, at_most: int) -> int:
    """A v1 429: the message names Retry-After's seconds; X-RateLimit-* as on the Laravel routes."""
    assert response.status == 429, (response.status, response.text)
    assert_v1_headers(response)
    body = response.json()
    assert list(body) == ["error"]
    match = TOO_MANY.fullmatch(body["error"])
    assert match is not None, body
    retry_after = int(response.headers["Retry-After"])
    assert match.group("seconds") == response.headers["Retry-After"]
    assert 0 < retry_after <= at_most
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert response.body == wire(body)
    return retry_after


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def secret_of(token: str) -> str:
    match = TOKEN.fullmatch(token)
    assert match is not None, token
    return match.group("secret")


def id_of(token: str) -> int:
    match = TOKEN.fullmatch(token)
    assert match is not None, token
    return int(match.group("id"))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def v1_time(value: Any) -> str | None:
    """A stored timestamp as v1 writes it: `YYYY-MM-DDTHH:MM:SS`."""
    return None if value is None else stored_time(value).replace(" ", "T")


def parse_time(text: str) -> datetime:
    assert TIMESTAMP.fullmatch(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")


# --- requests ------------------------------------------------------------------------------------------


async def post(client: ContractClient, route: str, body: Any = None, **kwargs: Any) -> WireResponse:
    if body is not None:
        kwargs["json"] = body
    return await client.post(f"{BASE}/{route}", **kwargs)


async def register(client: ContractClient, headers: dict[str, str] | None = None, **fields: Any) -> WireResponse:
    """POST /register with seed 001's user, changed by `fields` (`...` drops a field)."""
    body = {**SEED_USER, **fields}
    return await post(client, "register", {k: v for k, v in body.items() if v is not ...}, headers=headers)


async def registered(client: ContractClient, **fields: Any) -> dict[str, Any]:
    response = await register(client, **fields)
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(client: ContractClient, username: Any, password: Any = PASSWORD, **kwargs: Any) -> WireResponse:
    return await post(client, "login", {"username": username, "password": password}, **kwargs)


async def signed_in(client: ContractClient, username: str = "kullanici123", password: str = PASSWORD) -> dict[str, Any]:
    """Log in (the user must exist); the token view."""
    response = await login(client, username, password)
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == TOKEN_VIEW_KEYS, body
    return body


async def me(client: ContractClient, token: str) -> WireResponse:
    return await client.get(f"{BASE}/me", headers=bearer(token))


async def make_admin(client: ContractClient) -> str:
    """An admin as tests/test_accounts.py makes one (register, then the role column), signed in through v1."""
    await registered(client, username="boss", email="boss@example.com", name=..., last_name=...)
    await User.filter(username="boss").update(role="admin")
    return str((await signed_in(client, "boss"))["token"])


async def user_row(username: str = "kullanici123") -> dict[str, Any]:
    [row] = await query("SELECT * FROM users WHERE username = {}", username)
    return row


async def expected_user(username: str = "kullanici123") -> dict[str, Any]:
    """The user JSON of seed 001, read from the row the service wrote (V1_ROLE_IDS' default mapping)."""
    row = await user_row(username)
    return {
        "user_id": row["id"],
        "role_id": ROLE_IDS[row["role"]],
        "username": row["username"],
        "email": row["email"],
        "name": row["name"] or None,
        "last_name": row["surname"],
        "created_at": v1_time(row["created_at"]),
        "updated_at": v1_time(row["updated_at"]),
        "last_login": v1_time(row["last_login_at"]),
    }


async def assert_token_view(body: dict[str, Any], *, username: str = "kullanici123", minutes: int = 60) -> None:
    """A token view: formats, the stored rows behind it, and the user as stored."""
    assert list(body) == TOKEN_VIEW_KEYS
    assert body["token_type"] == "Bearer"
    assert body["token_id"] == id_of(body["token"])
    id_of(body["refresh_token"])
    created, expires = parse_time(body["created_at"]), parse_time(body["expiration_time"])
    assert (expires - created).total_seconds() == minutes * 60
    [row] = await query("SELECT * FROM personal_access_tokens WHERE id = {}", body["token_id"])
    assert row["token"] == sha256(secret_of(body["token"]))
    assert v1_time(row["created_at"]) == body["created_at"]
    assert v1_time(row["expires_at"]) == body["expiration_time"]
    assert list(body["user"]) == USER_KEYS
    assert body["user"] == await expected_user(username)
    assert row["tokenable_id"] == body["user"]["user_id"]
