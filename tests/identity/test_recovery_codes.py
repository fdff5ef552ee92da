"""Tests for identity.recovery_codes: Crockford base32 codes, Argon2id storage, single use."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity import recovery_codes
from identity.recovery_codes import (
    CROCKFORD_ALPHABET,
    SYMBOLS,
    hash_recovery_code,
    matching_code_index,
    new_recovery_codes,
    normalise_code,
)

CODE_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
SALT = bytes(range(16))

# Argon2id(m=19456, t=2, p=1, 32 bytes) of "4F7Q9KD2XM3P" under SALT. Pinned: a change here
# silently invalidates every stored recovery code.
PINNED_CODE = "4F7Q-9KD2-XM3P"
PINNED_HASH = "3c502cd7fe7fab3216e9c0b24ef7739b57946dfc82fc650f4564cc67943b2f84"


def test_codes_look_like_crockford_base32_groups() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert CODE_FORMAT.fullmatch(code), code
    assert len(new_recovery_codes(3)) == 3
    with pytest.raises(ValueError, match="count"):
        new_recovery_codes(0)


def test_codes_carry_at_least_60_bits() -> None:
    assert len(set(CROCKFORD_ALPHABET)) == 32
    assert not set("ILOU") & set(CROCKFORD_ALPHABET)
    assert SYMBOLS * math.log2(len(CROCKFORD_ALPHABET)) >= 60


def test_every_symbol_is_used() -> None:
    # 2,400 draws from 32 symbols: missing one by chance has probability below 1e-30.
    counts = Counter("".join(normalise_code(code) for code in new_recovery_codes(200)))
    assert set(counts) == set(CROCKFORD_ALPHABET)


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("4F7Q-9KD2-XM3P", "4F7Q9KD2XM3P"),
        ("4f7q-9kd2-xm3p", "4F7Q9KD2XM3P"),
        (" 4F7Q 9KD2\tXM3P\n", "4F7Q9KD2XM3P"),
        ("4F7Q9KD2XM3P", "4F7Q9KD2XM3P"),
        ("IiLl-Oo", "111100"),  # Crockford: I and L read as 1, O as 0
        ("", ""),
    ],
)
def test_normalise_code(typed: str, normalised: str) -> None:
    assert normalise_code(typed) == normalised


@given(st.text(max_size=30))
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise_code(normalise_code(text)) == normalise_code(text)


@given(
    st.text(alphabet=CROCKFORD_ALPHABET, min_size=SYMBOLS, max_size=SYMBOLS),
    st.lists(st.sampled_from(["", " ", "-", "lower"]), min_size=SYMBOLS, max_size=SYMBOLS),
)
def test_any_way_of_typing_a_code_normalises_to_it(symbols: str, noise: list[str]) -> None:
    typed = "".join(
        char.lower() if extra == "lower" else char + extra
        for char, extra in zip(symbols, noise, strict=True)
    )
    assert normalise_code(typed) == symbols


def test_hash_vector_and_equivalent_spellings() -> None:
    assert hash_recovery_code(PINNED_CODE, SALT) == PINNED_HASH
    assert hash_recovery_code("4f7q 9kd2 xm3p", SALT) == PINNED_HASH
    # A key derivation function, not plain SHA-256 (NIST SP 800-63B §5.1.2.2, under 112 bits).
    assert hashlib.sha256(SALT + b"4F7Q9KD2XM3P").hexdigest() != PINNED_HASH
    assert hash_recovery_code(PINNED_CODE, bytes(16)) != PINNED_HASH


def test_hash_refuses_short_salts() -> None:
    with pytest.raises(ValueError, match="salt"):
        hash_recovery_code(PINNED_CODE, b"\x00" * 8)


@pytest.fixture(scope="module")
def issued() -> tuple[list[str], list[str | None]]:
    codes = new_recovery_codes()
    return codes, [hash_recovery_code(code, SALT) for code in codes]


def test_each_code_matches_its_own_index(issued: tuple[list[str], list[str | None]]) -> None:
    codes, hashes = issued
    assert matching_code_index(codes[0], hashes, SALT) == 0
    assert matching_code_index(codes[7], hashes, SALT) == 7
    retyped = codes[9].lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert matching_code_index(retyped, hashes, SALT) == 9


def test_used_codes_no_longer_match(issued: tuple[list[str], list[str | None]]) -> None:
    codes, hashes = issued
    used = list(hashes)
    used[3] = None
    assert matching_code_index(codes[3], used, SALT) is None
    assert matching_code_index(codes[4], used, SALT) == 4


def test_unknown_code_or_other_salt_does_not_match(
    issued: tuple[list[str], list[str | None]],
) -> None:
    codes, hashes = issued
    fresh = next(code for code in new_recovery_codes(2) if code not in codes)
    assert matching_code_index(fresh, hashes, SALT) is None
    assert matching_code_index(codes[0], hashes, bytes(16)) is None


@pytest.mark.parametrize(
    "code",
    ["", "4F7Q-9KD2-XM3", "4F7Q-9KD2-XM3PP", "4F7Q-9KD2-XM3U", "4F7Q-9KD2-XM3*", "４F7Q9KD2XM3P"],
)
def test_malformed_codes_are_refused_before_any_hashing(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hashing(code: str, salt: bytes) -> str:
        raise AssertionError("hashed a code that cannot be well formed")

    monkeypatch.setattr(recovery_codes, "hash_recovery_code", no_hashing)
    assert matching_code_index(code, ["00" * 32], SALT) is None
