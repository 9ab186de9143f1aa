"""Fortify-compatible TOTP (pragmarx/google2fa defaults) and recovery codes: pure functions, no I/O.

RFC 6238 with SHA-1, 6 digits, 30-second steps; a code is accepted within `window` steps either side of
now, and never for a step at or before the last one accepted (google2fa's verifyKeyNewer), so a code can
be used once. Fortify remembers the last step in a cache under `md5(code)` shared by every user; the caller
here keeps it per user instead. Secrets are 16 base32 characters (80 bits), as Fortify generates them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import math
import re
import secrets
from urllib.parse import quote

import pyotp
import segno

from sanctum_py.core.tokens import random_string

BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SECRET_LENGTH = 16
DIGITS = 6
PERIOD = 30
DEFAULT_WINDOW = 1
RECOVERY_CODE_COUNT = 8
QR_SIZE = 192  # pixels, as Fortify's twoFactorQrCodeSvg renders it
QR_DARK = "#2d3748"  # Fortify's foreground rgb(45, 55, 72) on white
QR_LIGHT = "#ffffff"

_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


class _Totp(pyotp.TOTP):
    """pyotp's TOTP without its 112-bit minimum: Fortify's secrets are 80 bits and must keep working."""

    def byte_secret(self) -> bytes:
        return decode_secret(self.secret)


def decode_secret(secret: str) -> bytes:
    """google2fa's base32Decode: upper-cased, RFC 4648 alphabet only, no padding. ValueError otherwise."""
    normalized = secret.upper()
    if not normalized or any(char not in BASE32_ALPHABET for char in normalized):
        raise ValueError("a TOTP secret is base32 (A-Z, 2-7)")
    padded = normalized + "=" * (-len(normalized) % 8)
    try:
        return base64.b32decode(padded)
    except binascii.Error as error:
        raise ValueError("a TOTP secret has an impossible base32 length") from error


def generate_secret(length: int = SECRET_LENGTH) -> str:
    """google2fa's generateSecretKey(): `length` random base32 characters (16 -> 80 bits)."""
    return "".join(secrets.choice(BASE32_ALPHABET) for _ in range(length))


def timestep(at: float) -> int:
    """The 30-second counter for a unix time."""
    return math.floor(at / PERIOD)


def code_at(secret: str, step: int) -> str:
    """The code for one time step."""
    return _Totp(secret, digits=DIGITS, interval=PERIOD).generate_otp(step)


def verify(
    secret: str, code: str, at: float, window: int = DEFAULT_WINDOW, last_used_timestep: int | None = None
) -> int | None:
    """The accepted time step, or None. Steps at or before `last_used_timestep` are never accepted.

    Store the returned step and pass it back next time: that is what makes each code single-use.
    """
    if not _CODE.fullmatch(code):
        return None
    totp = _Totp(secret, digits=DIGITS, interval=PERIOD)
    now = timestep(at)
    first = now - window if last_used_timestep is None else max(now - window, last_used_timestep + 1)
    for step in range(first, now + window + 1):
        if step >= 0 and hmac.compare_digest(totp.generate_otp(step).encode("ascii"), code.encode("ascii")):
            return step
    return None


def otpauth_url(app_name: str, holder: str, secret: str) -> str:
    """google2fa's getQRCodeUrl(company, holder, secret), as Fortify's twoFactorQrCodeUrl() calls it.

    `holder` is the user's Fortify username field (the email by default). PHP's rawurlencode keeps
    only `A-Za-z0-9-_.~`, as `quote(..., safe="")` does.
    """
    company = quote(app_name, safe="")
    return (
        f"otpauth://totp/{company}:{quote(holder, safe='')}?secret={secret}&issuer={company}"
        f"&algorithm=SHA1&digits={DIGITS}&period={PERIOD}"
    )


def qr_code_svg(url: str) -> str:
    """An inline SVG QR code of `url`, 192 px square, dark slate on white like Fortify's (no XML prologue)."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="l", boost_error=False).save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        scale=1,
        border=0,
        omitsize=True,
        dark=QR_DARK,
        light=QR_LIGHT,
        svgclass=None,
        lineclass=None,
    )
    svg = buffer.getvalue().decode("utf-8")
    return svg.replace("<svg ", f'<svg width="{QR_SIZE}" height="{QR_SIZE}" ', 1)


def generate_recovery_code() -> str:
    """Fortify's RecoveryCode::generate(): `Str::random(10) . '-' . Str::random(10)`."""
    return f"{random_string(10)}-{random_string(10)}"


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    return [generate_recovery_code() for _ in range(count)]


def encode_recovery_codes(codes: list[str]) -> str:
    """PHP's json_encode of the list, the plaintext Fortify encrypts into two_factor_recovery_codes."""
    return json.dumps(codes, separators=(",", ":")).replace("/", "\\/")


def decode_recovery_codes(codes_json: str) -> list[str]:
    """The decrypted column back to a list; anything but a JSON list of strings is a ValueError."""
    codes = json.loads(codes_json)
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise ValueError("recovery codes must be a JSON list of strings")
    return codes


def find_recovery_code(codes: list[str], presented: str) -> str | None:
    """The stored code equal to `presented` (constant-time per code), as TwoFactorLoginRequest looks it up."""
    wanted = presented.encode("utf-8", "surrogatepass")
    for code in codes:
        if hmac.compare_digest(code.encode("utf-8"), wanted):
            return code
    return None


def replace_recovery_code(codes_json: str, used: str, replacement: str | None = None) -> str:
    """Fortify's replaceRecoveryCode: `str_replace($used, RecoveryCode::generate(), $json)`, order kept.

    Works on the decrypted JSON text exactly as Fortify does; an empty `used` changes nothing (PHP's
    str_replace with an empty search string returns the subject unchanged).
    """
    if not used:
        return codes_json
    return codes_json.replace(used, replacement if replacement is not None else generate_recovery_code())
