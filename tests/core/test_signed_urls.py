"""Laravel 8's temporary signed URLs for email verification."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from sanctum_py.core.signed_urls import (
    SignatureStatus,
    check_signature,
    check_signed_url,
    email_hash,
    sign_url,
    verification_url,
)

APP_URL = "http://127.0.0.1:8000"
KEY = "base64:1oZSECVBtWwUcL3mQQmv7fdDJT042gsQCCDR8WVOlrQ="
EMAIL = "sukru.ozturk@example.com"
NOW = 1_700_000_000
# Computed outside Python: printf '%s' "$url" | openssl dgst -sha256 -hmac "$KEY", with the sha1 from sha1sum.
EMAIL_SHA1 = "1ee532dbf72c71cfc5ab8993ede63542ad15155c"
SIGNATURE = "ca1b0b58e2dda736d0d2005424186154ae37d2f60f3f5d2db3f41673168287e8"
EXPECTED = f"{APP_URL}/api/email/verify/1/{EMAIL_SHA1}?expires=1700003600&signature={SIGNATURE}"


@pytest.fixture
def url() -> str:
    return verification_url(APP_URL, 1, EMAIL, KEY, now=NOW)


def test_verification_url_matches_a_hand_computed_vector(url: str) -> None:
    assert email_hash(EMAIL) == EMAIL_SHA1
    assert url == EXPECTED


def test_signature_is_hmac_of_the_unsigned_url_with_the_undecoded_key(vectors: dict[str, Any]) -> None:
    key = vectors["app_key"].strip()  # the JSON keeps the .env line's "\n"; the env loader trims it
    signed = verification_url("https://api.example.test/", 42, "Ayşe@Example.com", key, now=NOW, expire_minutes=5)
    unsigned, signature = signed.split("&signature=")
    assert unsigned == (
        "https://api.example.test/api/email/verify/42/"
        + hashlib.sha1("Ayşe@Example.com".encode(), usedforsecurity=False).hexdigest()
        + f"?expires={NOW + 300}"
    )
    assert signature == hmac.new(key.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
    assert check_signed_url(signed, key, NOW) is SignatureStatus.VALID


@pytest.mark.parametrize(("now", "status"), [(NOW, "valid"), (NOW + 3600, "valid"), (NOW + 3601, "expired")])
def test_expiry_boundary(url: str, now: int, status: str) -> None:
    assert check_signed_url(url, KEY, now) is SignatureStatus(status)


@pytest.mark.parametrize(
    "tampered",
    [
        EXPECTED.replace("/verify/1/", "/verify/2/"),
        EXPECTED.replace(EMAIL_SHA1, hashlib.sha1(b"other@example.com", usedforsecurity=False).hexdigest()),
        EXPECTED.replace("expires=1700003600", "expires=1800003600"),
        EXPECTED.replace(SIGNATURE, SIGNATURE[:-1] + ("0" if SIGNATURE[-1] != "0" else "1")),
        EXPECTED.replace(SIGNATURE, SIGNATURE.upper()),
        EXPECTED.split("&signature=")[0],
        EXPECTED.replace("&signature=", "&signature=&x="),
        EXPECTED + "&extra=1",
        EXPECTED.replace("http://", "https://"),
        EXPECTED.replace("127.0.0.1:8000", "127.0.0.1:8001"),
    ],
)
def test_tampering_is_invalid(tampered: str) -> None:
    assert check_signed_url(tampered, KEY, NOW) is SignatureStatus.INVALID


def test_the_key_is_the_raw_string_with_its_prefix() -> None:
    assert check_signed_url(EXPECTED, KEY.removeprefix("base64:"), NOW) is SignatureStatus.INVALID
    assert check_signed_url(EXPECTED, "base64:" + "A" * 43 + "=", NOW) is SignatureStatus.INVALID
    assert check_signed_url(EXPECTED, KEY + "\n", NOW) is SignatureStatus.VALID  # trimmed like the .env loader


def test_previous_keys_still_verify() -> None:
    assert check_signed_url(EXPECTED, ["base64:new", KEY], NOW) is SignatureStatus.VALID
    assert check_signed_url(EXPECTED, ["base64:new"], NOW) is SignatureStatus.INVALID
    assert check_signed_url(EXPECTED, [], NOW) is SignatureStatus.INVALID


def test_signature_may_stand_anywhere_in_the_query() -> None:
    reordered = f"{APP_URL}/api/email/verify/1/{EMAIL_SHA1}?signature={SIGNATURE}&expires=1700003600"
    assert check_signed_url(reordered, KEY, NOW) is SignatureStatus.VALID


def test_check_signature_takes_url_and_raw_query_apart() -> None:
    path_url = f"{APP_URL}/api/email/verify/1/{EMAIL_SHA1}"
    query = f"expires=1700003600&signature={SIGNATURE}"
    assert check_signature(path_url, query, KEY, NOW) is SignatureStatus.VALID
    assert check_signature(path_url + "/", query, KEY, NOW) is SignatureStatus.VALID  # Request::url() trims "/"
    assert check_signature(path_url, query, KEY, NOW + 3601) is SignatureStatus.EXPIRED
    assert check_signature(path_url, "expires=1700003600", KEY, NOW) is SignatureStatus.INVALID
    assert check_signed_url(EXPECTED + "#fragment", KEY, NOW) is SignatureStatus.VALID


def test_sign_url_sorts_parameters_and_encodes_like_http_build_query() -> None:
    signed = sign_url("https://h.test/p", {"b": 2, "a": "x y/z~é"}, KEY, expires=NOW)
    unsigned, signature = signed.split("&signature=")
    assert unsigned == f"https://h.test/p?a=x%20y%2Fz~%C3%A9&b=2&expires={NOW}"
    assert signature == hmac.new(KEY.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
    assert check_signed_url(signed, KEY, NOW) is SignatureStatus.VALID


def test_without_expiry_a_signed_url_never_expires() -> None:
    signed = sign_url("https://h.test/p", {}, KEY)
    assert signed == "https://h.test/p?signature=" + hmac.new(KEY.encode(), b"https://h.test/p", "sha256").hexdigest()
    assert check_signed_url(signed, KEY, 2**40) is SignatureStatus.VALID
    zero = sign_url("https://h.test/p", {}, KEY, expires=0)  # PHP: "0" is falsy, so no expiry
    assert check_signed_url(zero, KEY, NOW) is SignatureStatus.VALID


@pytest.mark.parametrize("name", ["signature", "expires"])
def test_reserved_parameters_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        sign_url("https://h.test/p", {name: "1"}, KEY, expires=NOW)
