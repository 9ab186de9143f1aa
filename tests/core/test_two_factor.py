"""Fortify-compatible TOTP and recovery codes, checked against what Fortify + google2fa produced."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import segno

from sanctum_py.core.two_factor import (
    code_at,
    decode_recovery_codes,
    decode_secret,
    encode_recovery_codes,
    find_recovery_code,
    generate_recovery_code,
    generate_recovery_codes,
    generate_secret,
    otpauth_url,
    qr_code_svg,
    replace_recovery_code,
    timestep,
    verify,
)

RECOVERY_CODE = re.compile(r"[A-Za-z0-9]{10}-[A-Za-z0-9]{10}")
RFC6238_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890" (RFC 6238 appendix B)


@pytest.fixture
def confirm(fortify: dict[str, Any]) -> tuple[str, str, int]:
    return fortify["secret_plaintext"], fortify["confirm"]["otp_used"], fortify["confirm"]["at_unix_time"]


def test_the_confirm_code_fortify_accepted_verifies(confirm: tuple[str, str, int]) -> None:
    secret, code, at = confirm
    assert verify(secret, code, at) == timestep(at)


@pytest.mark.parametrize(("shift", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)])
def test_window_of_one_step_either_side(confirm: tuple[str, str, int], shift: int, accepted: bool) -> None:
    secret, code, at = confirm
    assert (verify(secret, code, at + shift) is not None) is accepted


def test_a_wider_window_is_honoured(confirm: tuple[str, str, int]) -> None:
    secret, code, at = confirm
    assert verify(secret, code, at + 60, window=2) == timestep(at)
    assert verify(secret, code, at + 30, window=0) is None


def test_a_code_is_single_use(confirm: tuple[str, str, int]) -> None:
    secret, code, at = confirm
    step = verify(secret, code, at)
    assert step is not None
    assert verify(secret, code, at, last_used_timestep=step) is None
    assert verify(secret, code, at + 30, last_used_timestep=step) is None  # still inside the window
    assert verify(secret, code, at, last_used_timestep=step + 1) is None
    assert verify(secret, code, at, last_used_timestep=step - 1) == step
    next_code = code_at(secret, step + 1)
    assert verify(secret, next_code, at + 30, last_used_timestep=step) == step + 1


def test_codes_match_google2fa_samples(fortify: dict[str, Any]) -> None:
    secret = fortify["secret_plaintext"]
    params = fortify["totp_params"]
    assert (params["algorithm"], params["digits"], params["period"], params["window"]) == ("sha1", 6, 30, 1)
    for sample in fortify["totp_samples"]:
        assert code_at(secret, timestep(sample["unix_time"])) == sample["totp"]


@pytest.mark.parametrize(("at", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924")])
def test_rfc6238_sha1_vectors(at: int, code: str) -> None:
    assert code_at(RFC6238_SECRET, timestep(at)) == code
    assert verify(RFC6238_SECRET, code, at) == timestep(at)


@pytest.mark.parametrize("code", ["", "85540", "8554000", " 855400", "855400 ", "85540a", "８５５４００"])
def test_malformed_codes_never_verify(confirm: tuple[str, str, int], code: str) -> None:
    secret, _, at = confirm
    assert verify(secret, code, at) is None


def test_a_lowercase_secret_works_like_google2fa(confirm: tuple[str, str, int]) -> None:
    secret, code, at = confirm
    assert verify(secret.lower(), code, at) == timestep(at)


@pytest.mark.parametrize("secret", ["", "MFTRNOO77EFREB71", "MFTRNOO7-EFREB7E", "MFTRNOO77EFREB7E="])
def test_invalid_secrets_raise(secret: str) -> None:
    with pytest.raises(ValueError, match="base32"):
        decode_secret(secret)
    with pytest.raises(ValueError):
        verify(secret, "123456", 0)


def test_generated_secrets_look_like_fortifys() -> None:
    secrets_ = {generate_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for secret in secrets_:
        assert re.fullmatch(r"[A-Z2-7]{16}", secret)
        assert len(decode_secret(secret)) == 10  # 80 bits, accepted although pyotp alone would refuse it
        assert len(code_at(secret, 1)) == 6


def test_otpauth_url_matches_google2fa() -> None:
    assert (
        otpauth_url("Laravel", "sukru.ozturk@example.com", "MFTRNOO77EFREB7E")
        == "otpauth://totp/Laravel:sukru.ozturk%40example.com?secret=MFTRNOO77EFREB7E&issuer=Laravel"
        "&algorithm=SHA1&digits=6&period=30"
    )
    assert (
        otpauth_url("My App+", "a b~c/d", "ABC")
        == "otpauth://totp/My%20App%2B:a%20b~c%2Fd?secret=ABC&issuer=My%20App%2B&algorithm=SHA1&digits=6&period=30"
    )


def _dark_modules_in_svg(svg: str) -> int:
    """Sum the horizontal runs (`h<n>`) of the dark path: one unit per module at scale 1."""
    root = ET.fromstring(svg)  # noqa: S314 - our own SVG, not untrusted input
    paths = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("stroke")]
    assert len(paths) == 1
    return sum(int(run) for run in re.findall(r"h(\d+)", paths[0].get("d", "")))


def test_qr_code_svg_encodes_the_url() -> None:
    url = otpauth_url("Laravel", "sukru.ozturk@example.com", "MFTRNOO77EFREB7E")
    svg = qr_code_svg(url)
    assert svg.startswith("<svg ") and not svg.startswith("<?xml")
    root = ET.fromstring(svg)  # noqa: S314 - our own SVG, not untrusted input
    assert (root.get("width"), root.get("height")) == ("192", "192")
    size = segno.make_qr(url, error="l", boost_error=False).symbol_size(border=0)[0]
    assert root.get("viewBox") == f"0 0 {size} {size}"
    assert 'stroke="#2d3748"' in svg
    expected = sum(sum(1 for cell in row if cell) for row in segno.make_qr(url, error="l", boost_error=False).matrix)
    assert _dark_modules_in_svg(svg) == expected
    assert qr_code_svg(url) == svg
    assert qr_code_svg(url.replace("MFTR", "MFTS")) != svg


def test_recovery_codes_look_like_fortifys() -> None:
    codes = generate_recovery_codes()
    assert len(codes) == 8
    assert len(set(codes)) == 8
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes)
    assert RECOVERY_CODE.fullmatch(generate_recovery_code())


def test_recovery_codes_json_is_byte_identical_to_fortifys(fortify: dict[str, Any]) -> None:
    serialized = fortify["decrypt_with_unserialize_false"]["two_factor_recovery_codes"]
    stored_json = serialized[serialized.index(':"') + 2 : -2]
    assert encode_recovery_codes(fortify["recovery_codes_plaintext"]) == stored_json
    assert decode_recovery_codes(stored_json) == fortify["recovery_codes_plaintext"]


@pytest.mark.parametrize("text", ['{"a":"b"}', "[1,2]", '"code"', "null"])
def test_decode_recovery_codes_rejects_other_shapes(text: str) -> None:
    with pytest.raises(ValueError):
        decode_recovery_codes(text)


def test_replacing_a_used_code_keeps_the_order(fortify: dict[str, Any]) -> None:
    codes = fortify["recovery_codes_plaintext"]
    text = encode_recovery_codes(codes)
    replaced = decode_recovery_codes(replace_recovery_code(text, codes[2], "NEWNEWNEW0-NEWNEWNEW1"))
    assert replaced == [*codes[:2], "NEWNEWNEW0-NEWNEWNEW1", *codes[3:]]
    fresh = decode_recovery_codes(replace_recovery_code(text, codes[0]))
    assert fresh[1:] == codes[1:] and fresh[0] != codes[0] and RECOVERY_CODE.fullmatch(fresh[0])


@pytest.mark.parametrize("used", ["", "not-a-code"])
def test_replacing_an_empty_or_unknown_code_changes_nothing(fortify: dict[str, Any], used: str) -> None:
    text = encode_recovery_codes(fortify["recovery_codes_plaintext"])
    assert replace_recovery_code(text, used, "X") == text


def test_find_recovery_code_wants_an_exact_match(fortify: dict[str, Any]) -> None:
    codes = fortify["recovery_codes_plaintext"]
    assert find_recovery_code(codes, codes[5]) == codes[5]
    assert find_recovery_code(codes, codes[5].lower()) is None
    assert find_recovery_code(codes, codes[5][:-1]) is None
    assert find_recovery_code(codes, "") is None
    assert find_recovery_code([], codes[5]) is None
