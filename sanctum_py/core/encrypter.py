"""Laravel's Illuminate\\Encryption\\Encrypter for AES-256-CBC, so `encrypt()`ed columns read and write alike.

A payload is `base64(json)` of `{"iv","value","mac","tag"}` in that order, written with PHP's
JSON_UNESCAPED_SLASHES: `iv` is base64 of 16 random bytes, `value` base64 of the PKCS#7-padded ciphertext
(what `openssl_encrypt(..., 0, $iv)` returns), `mac` lowercase hex HMAC-SHA256 of `iv . value` (the two
base64 strings) keyed with the raw 32-byte key, and `tag` "" (CBC has no AEAD tag). `encrypt()` PHP-serializes
the value first unless told not to, exactly as Laravel's `encrypt()` helper does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sanctum_py.core.php_serialize import PhpSerializeError, serialize_string, unserialize_string

KEY_BYTES = 32
IV_BYTES = 16


class DecryptException(Exception):
    """The payload is malformed, was tampered with, or was encrypted with another key."""


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii"), validate=True)


def _mac(key: bytes, iv_b64: str, value_b64: str) -> str:
    return hmac.new(key, (iv_b64 + value_b64).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class Encrypter:
    """AES-256-CBC + HMAC-SHA256, wire-compatible with Laravel 8 through 12."""

    def __init__(self, key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        for candidate in (key, *previous_keys):
            if len(candidate) != KEY_BYTES:
                raise ValueError(f"AES-256-CBC needs a {KEY_BYTES}-byte key, got {len(candidate)} bytes")
        self._key = key
        self._all_keys = (key, *previous_keys)

    def encrypt(self, value: str, serialize: bool = True) -> str:
        plaintext = serialize_string(value) if serialize else value.encode("utf-8")
        iv = secrets.token_bytes(IV_BYTES)
        padder = padding.PKCS7(algorithms.AES.block_size).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        iv_b64 = base64.b64encode(iv).decode("ascii")
        value_b64 = base64.b64encode(ciphertext).decode("ascii")
        payload = {"iv": iv_b64, "value": value_b64, "mac": _mac(self._key, iv_b64, value_b64), "tag": ""}
        return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode("ascii")).decode("ascii")

    def decrypt(self, payload: str, unserialize: bool = True) -> str:
        iv_b64, value_b64, mac = self._parse(payload)
        key = self._key_for(iv_b64, value_b64, mac)
        try:
            iv = _b64decode(iv_b64)
            ciphertext = _b64decode(value_b64)
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(ciphertext) + decryptor.finalize()
            unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
            plaintext = unpadder.update(padded) + unpadder.finalize()
        except (ValueError, binascii.Error) as error:
            raise DecryptException("Could not decrypt the data.") from error
        try:
            return unserialize_string(plaintext) if unserialize else plaintext.decode("utf-8")
        except (PhpSerializeError, UnicodeDecodeError) as error:
            raise DecryptException("The decrypted data is not a string.") from error

    @staticmethod
    def _parse(payload: str) -> tuple[str, str, str]:
        """Laravel's getJsonPayload + validPayload: base64 JSON with string iv/value/mac and a 16-byte iv."""
        try:
            decoded = json.loads(_b64decode(payload))
        except (ValueError, UnicodeError, binascii.Error) as error:
            raise DecryptException("The payload is invalid.") from error
        if not isinstance(decoded, dict):
            raise DecryptException("The payload is invalid.")
        iv_b64, value_b64, mac = decoded.get("iv"), decoded.get("value"), decoded.get("mac")
        if not (isinstance(iv_b64, str) and isinstance(value_b64, str) and isinstance(mac, str)):
            raise DecryptException("The payload is invalid.")
        tag = decoded.get("tag")
        if tag not in (None, ""):  # Laravel: a tag on a non-AEAD cipher is an error
            raise DecryptException("Unable to use tag because the cipher algorithm does not support AEAD.")
        try:
            iv_length = len(_b64decode(iv_b64))
        except (ValueError, binascii.Error) as error:
            raise DecryptException("The payload is invalid.") from error
        if iv_length != IV_BYTES:
            raise DecryptException("The payload is invalid.")
        return iv_b64, value_b64, mac

    def _key_for(self, iv_b64: str, value_b64: str, mac: str) -> bytes:
        """The first key (current, then previous) whose MAC matches, compared in constant time."""
        presented = mac.encode("utf-8", "surrogatepass")
        for key in self._all_keys:
            if hmac.compare_digest(_mac(key, iv_b64, value_b64).encode("ascii"), presented):
                return key
        raise DecryptException("The MAC is invalid.")
