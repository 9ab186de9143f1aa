"""Laravel's AES-256-CBC encrypter, checked against payloads the real Laravel wrote."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sanctum_py.core.encrypter import DecryptException, Encrypter
from sanctum_py.settings import decode_app_key


@pytest.fixture
def encrypter(fortify: dict[str, Any]) -> Encrypter:
    return Encrypter(decode_app_key(fortify["app_key"]))


def _payload(token: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(token))


def _repack(payload: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def test_decrypts_laravels_two_factor_columns(encrypter: Encrypter, fortify: dict[str, Any]) -> None:
    stored = fortify["stored"]
    assert encrypter.decrypt(stored["two_factor_secret"]) == fortify["secret_plaintext"]
    codes = encrypter.decrypt(stored["two_factor_recovery_codes"])
    assert json.loads(codes) == fortify["recovery_codes_plaintext"]


def test_decrypt_without_unserialize_gives_the_php_serialized_text(
    encrypter: Encrypter, fortify: dict[str, Any]
) -> None:
    stored, raw = fortify["stored"], fortify["decrypt_with_unserialize_false"]
    for column in ("two_factor_secret", "two_factor_recovery_codes"):
        assert encrypter.decrypt(stored[column], unserialize=False) == raw[column]


@pytest.mark.parametrize("value", ["MFTRNOO77EFREB7E", "", "şifreÇok123 😀", 'a/b"c\\d', "x" * 1000])
@pytest.mark.parametrize("serialize", [True, False])
def test_round_trip(encrypter: Encrypter, value: str, serialize: bool) -> None:
    token = encrypter.encrypt(value, serialize=serialize)
    assert encrypter.decrypt(token, unserialize=serialize) == value


def test_serialized_and_raw_modes_differ(encrypter: Encrypter) -> None:
    assert encrypter.decrypt(encrypter.encrypt("abc"), unserialize=False) == 's:3:"abc";'
    with pytest.raises(DecryptException):
        encrypter.decrypt(encrypter.encrypt("abc", serialize=False))  # not a serialized string


def test_payload_shape_matches_laravel(encrypter: Encrypter, fortify: dict[str, Any]) -> None:
    ours = base64.b64decode(encrypter.encrypt("MFTRNOO77EFREB7E")).decode()
    theirs = base64.b64decode(fortify["stored"]["two_factor_secret"]).decode()
    assert list(json.loads(ours)) == list(json.loads(theirs)) == ["iv", "value", "mac", "tag"]
    assert ours.startswith('{"iv":"') and ours.endswith('","tag":""}') and " " not in ours
    assert "\\/" not in ours  # JSON_UNESCAPED_SLASHES


def test_our_payload_passes_an_independent_laravel_check(fortify: dict[str, Any]) -> None:
    """Re-implements Laravel's decrypt by hand (HMAC over the base64 strings, then AES-256-CBC)."""
    key = base64.b64decode(fortify["app_key"].strip().removeprefix("base64:"))
    payload = _payload(Encrypter(key).encrypt("şifre/123"))
    expected_mac = hmac.new(key, (payload["iv"] + payload["value"]).encode(), hashlib.sha256).hexdigest()
    assert payload["mac"] == expected_mac
    iv = base64.b64decode(payload["iv"], validate=True)
    assert len(iv) == 16
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(base64.b64decode(payload["value"])) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    assert unpadder.update(padded) + unpadder.finalize() == 's:10:"şifre/123";'.encode()


def test_every_encryption_uses_a_fresh_iv(encrypter: Encrypter) -> None:
    assert len({_payload(encrypter.encrypt("same"))["iv"] for _ in range(20)}) == 20


def _swap_char(text: str, index: int, alphabet: str) -> str:
    """Replace one character by another of the same alphabet, so the field stays well-formed."""
    replacement = alphabet[(alphabet.index(text[index]) + 1) % len(alphabet)]
    return text[:index] + replacement + text[index + 1 :]


HEX = "0123456789abcdef"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@pytest.mark.parametrize(
    ("field", "index", "alphabet"),
    [("mac", 0, HEX), ("mac", -1, HEX), ("iv", 0, BASE64), ("value", 0, BASE64), ("value", 5, BASE64)],
)
def test_rejects_tampering(
    encrypter: Encrypter, fortify: dict[str, Any], field: str, index: int, alphabet: str
) -> None:
    payload = _payload(fortify["stored"]["two_factor_secret"])
    payload[field] = _swap_char(payload[field], index % len(payload[field]), alphabet)
    with pytest.raises(DecryptException):
        encrypter.decrypt(_repack(payload))


def test_rejects_another_key(fortify: dict[str, Any]) -> None:
    with pytest.raises(DecryptException, match="MAC"):
        Encrypter(secrets.token_bytes(32)).decrypt(fortify["stored"]["two_factor_secret"])


def test_previous_keys_decrypt_old_payloads(fortify: dict[str, Any]) -> None:
    old_key = decode_app_key(fortify["app_key"])
    rotated = Encrypter(secrets.token_bytes(32), previous_keys=[secrets.token_bytes(32), old_key])
    assert rotated.decrypt(fortify["stored"]["two_factor_secret"]) == fortify["secret_plaintext"]
    fresh = rotated.encrypt("new")
    with pytest.raises(DecryptException):  # new payloads use the current key only
        Encrypter(old_key).decrypt(fresh)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        "é",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b'["iv","value","mac"]').decode(),
        _repack({"iv": "AAAAAAAAAAAAAAAAAAAAAA==", "value": "AAAA"}),  # no mac
        _repack({"iv": 1, "value": "AAAA", "mac": "x"}),
        _repack({"iv": "AAAA", "value": "AAAA", "mac": "x"}),  # 3-byte iv
        _repack({"iv": "%%%%", "value": "AAAA", "mac": "x"}),
    ],
)
def test_rejects_malformed_payloads(encrypter: Encrypter, token: str) -> None:
    with pytest.raises(DecryptException):
        encrypter.decrypt(token)


def test_rejects_a_tag_on_cbc(encrypter: Encrypter, fortify: dict[str, Any]) -> None:
    payload = _payload(fortify["stored"]["two_factor_secret"])
    payload["tag"] = base64.b64encode(b"0123456789abcdef").decode()
    with pytest.raises(DecryptException, match="AEAD"):
        encrypter.decrypt(_repack(payload))


def test_bad_padding_with_a_valid_mac_is_a_decrypt_exception(fortify: dict[str, Any]) -> None:
    """A payload authentic under the key but not valid ciphertext (someone holding the key wrote it)."""
    key = decode_app_key(fortify["app_key"])
    iv_b64 = base64.b64encode(b"\0" * 16).decode()
    value_b64 = base64.b64encode(b"\1" * 16).decode()
    mac = hmac.new(key, (iv_b64 + value_b64).encode(), hashlib.sha256).hexdigest()
    with pytest.raises(DecryptException):
        Encrypter(key).decrypt(_repack({"iv": iv_b64, "value": value_b64, "mac": mac, "tag": ""}))


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        Encrypter(b"k" * length)
