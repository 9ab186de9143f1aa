"""Token text: Laravel's Str::random alphabet and uniformity, Sanctum 4's secret shape."""

from __future__ import annotations

import collections
import string
import zlib

from sanctum_py.core.tokens import generate_secret, random_string

ALPHABET = set(string.ascii_letters + string.digits)


def test_random_string_has_the_requested_length_and_alphabet() -> None:
    for length in (0, 1, 10, 40, 61, 200):
        text = random_string(length)
        assert len(text) == length
        assert set(text) <= ALPHABET


def test_random_string_is_uniform_over_the_62_characters() -> None:
    # 620,000 characters: each of the 62 is expected 10,000 times (sd ~99). A biased byte map (e.g.
    # `byte % 62` over all 256 values) would give the first 8 characters ~12,100 and the rest ~9,700.
    counts = collections.Counter("".join(random_string(62) for _ in range(10_000)))
    assert set(counts) == ALPHABET
    assert max(counts.values()) < 10_450 and min(counts.values()) > 9_550, counts.most_common(3)


def test_random_strings_do_not_repeat() -> None:
    assert len({random_string(40) for _ in range(10_000)}) == 10_000


def test_generated_secret_ends_with_the_crc32b_of_its_entropy() -> None:
    secret = generate_secret("pfx_")
    entropy = secret[len("pfx_") : -8]
    assert secret.startswith("pfx_") and len(entropy) == 40
    assert secret[-8:] == f"{zlib.crc32(entropy.encode('ascii')):08x}"
