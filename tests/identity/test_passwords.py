"""Tests for identity.passwords: NIST SP 800-63B §5.1.1.2 policy, Argon2id PHC strings."""

from __future__ import annotations

import base64
import re
import unicodedata

import pytest
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from hypothesis import given
from hypothesis import strategies as st

from identity.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordPolicyError,
    check_password_policy,
    common_passwords,
    hash_password,
    needs_rehash,
    verify_password,
)

PASSPHRASE = "correct horse battery staple"
PHC = re.compile(r"\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})")

# phc-winner-argon2 (the reference implementation), src/test.c: Argon2id v=0x13, t=2, m=2**16,
# p=1, password "password", salt "somesalt".
REFERENCE_PHC = (
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
)


def _salt_of(encoded: str) -> str:
    match = PHC.fullmatch(encoded)
    assert match is not None, encoded
    return match[1]


# --- policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "too_short"),
        ("abc", "too_short"),
        ("xk4!pq9", "too_short"),  # 7 code points
        ("e\u0301" * 7, "too_short"),  # 14 code points typed, 7 after NFKC (é)
        ("x" * (MAX_LENGTH + 1), "too_long"),
        ("x" * 100_000, "too_long"),  # refused before normalising
        ("password", "common"),
        ("PassWord", "common"),  # case-insensitive
        ("ｐａｓｓｗｏｒｄ", "common"),  # full-width letters are NFKC "password"
        ("12345678", "common"),
        ("qwertyuiop", "common"),
        ("iloveyou", "common"),
        ("Passw0rd", "common"),
        ("correct horse\x00battery", "invalid"),
        ("correct horse\tbattery", "invalid"),
        ("correct horse\nbattery", "invalid"),
        ("correct horse\x7fbattery", "invalid"),
        ("correct horse\u0085battery", "invalid"),  # C1 control (NEL)
        ("correct horse\ud800battery", "invalid"),  # lone surrogate: not encodable as UTF-8
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(PasswordPolicyError) as caught:
        check_password_policy(password)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "password",
    [
        "xk4!pq9z",  # exactly MIN_LENGTH
        "x" * MAX_LENGTH,
        PASSPHRASE,  # spaces allowed, no composition rules
        "lowercaseonly",
        "ﬁﬁﬁﬁ",  # 4 ligatures typed, 8 code points after NFKC
        "Ünïcödé pässwörd",
        "🔐🦆🌍🚲 in Tallinn",
        "e\u0301" * 8,
        "잘 기억할 수 있는 암호",
    ],
)
def test_policy_accepts(password: str) -> None:
    check_password_policy(password)


def test_policy_error_never_quotes_the_password() -> None:
    secret = "Hunter2-but-longer\x00"
    with pytest.raises(PasswordPolicyError) as caught:
        check_password_policy(secret)
    assert "Hunter2" not in str(caught.value)
    assert "Hunter2" not in repr(caught.value)
    assert caught.value.reason == "invalid"


def _refusal(password: str) -> str | None:
    try:
        check_password_policy(password)
    except PasswordPolicyError as error:
        return error.reason
    return None


@given(st.text(max_size=200))
def test_policy_outcome_matches_its_definition(password: str) -> None:
    normalised = unicodedata.normalize("NFKC", password)
    reason = _refusal(password)
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in normalised):
        assert reason == "invalid"
    elif len(normalised) < MIN_LENGTH:
        assert reason == "too_short"
    elif len(normalised) > MAX_LENGTH:
        assert reason == "too_long"
    elif normalised.casefold() in common_passwords():
        assert reason == "common"
    else:
        assert reason is None


# --- the common password list -------------------------------------------------------------------


def test_common_list_is_loaded_once_from_the_package() -> None:
    listed = common_passwords()
    assert common_passwords() is listed
    assert len(listed) >= 900
    assert {"password", "12345678", "qwertyuiop", "iloveyou", "password1"} <= listed


def test_every_listed_password_could_otherwise_be_chosen_and_is_refused() -> None:
    for entry in common_passwords():
        # Entries shorter than MIN_LENGTH would be dead weight; others must be in the form the
        # check compares (NFKC, case-folded).
        assert MIN_LENGTH <= len(entry) <= MAX_LENGTH, entry
        assert entry == unicodedata.normalize("NFKC", entry).casefold(), entry
        with pytest.raises(PasswordPolicyError) as caught:
            check_password_policy(entry.upper())
        assert caught.value.reason == "common"


# --- hashing ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSPHRASE)


def test_hash_is_an_argon2id_phc_string_with_the_owasp_parameters(stored: str) -> None:
    assert len(base64.b64decode(_salt_of(stored) + "==")) == 16
    assert not needs_rehash(stored)


def test_verify(stored: str) -> None:
    assert verify_password(PASSPHRASE, stored)
    assert not verify_password(PASSPHRASE + " ", stored)
    assert not verify_password("", stored)


def test_each_hash_has_its_own_salt(stored: str) -> None:
    again = hash_password(PASSPHRASE)
    assert _salt_of(again) != _salt_of(stored)
    assert verify_password(PASSPHRASE, again)


def test_the_same_characters_typed_differently_verify() -> None:
    composed = unicodedata.normalize("NFC", "Ünïcödé pässwörd")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed))


def test_reference_implementation_vector_verifies_and_is_due_for_rehash() -> None:
    assert verify_password("password", REFERENCE_PHC)
    assert not verify_password("Password", REFERENCE_PHC)
    assert needs_rehash(REFERENCE_PHC)  # m=65536 is not today's parameter set


def test_interoperates_with_the_library_phc_encoding(stored: str) -> None:
    Argon2id.verify_phc_encoded(PASSPHRASE.encode(), stored)
    with pytest.raises(InvalidKey):
        Argon2id.verify_phc_encoded(b"wrong", stored)
    library = Argon2id(
        salt=b"0123456789abcdef", length=32, iterations=2, lanes=1, memory_cost=19456
    ).derive_phc_encoded(PASSPHRASE.encode())
    assert PHC.fullmatch(library) is not None
    assert verify_password(PASSPHRASE, library)


def test_secrets_that_could_never_be_hashed_do_not_verify(stored: str) -> None:
    assert not verify_password("x" * 100_000, stored)
    assert not verify_password("\ud800" * 8, stored)


def test_hash_refuses_unencodable_password_without_keeping_it() -> None:
    secret = "Hunter2\ud800secret"
    with pytest.raises(PasswordPolicyError) as caught:
        hash_password(secret)
    assert caught.value.reason == "invalid"
    # Not even as the context of the error: UnicodeEncodeError.object would hold the password.
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    with pytest.raises(PasswordPolicyError) as too_long:
        hash_password("x" * (MAX_LENGTH + 1))
    assert too_long.value.reason == "too_long"


@pytest.mark.parametrize(
    ("encoded", "due"),
    [
        ("$argon2id$v=19$m=19456,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43, True),
        ("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43, True),
        ("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$" + "A" * 43, True),  # 8-byte salt
        ("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 22, True),  # 16-byte tag
        ("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43, False),
    ],
)
def test_needs_rehash(encoded: str, due: bool) -> None:
    assert needs_rehash(encoded) is due


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "password",
        "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,
        "$argon2d$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,
        "$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # Argon2 1.0
        "$argon2id$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # no version
        "$argon2id$v=19$t=2,m=19456,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # order
        "$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # leading zero
        "$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # t >= 1
        "$argon2id$v=19$m=7,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # m >= 8p
        "$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,  # > 1 GiB
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA==$" + "A" * 43,  # padding
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdB$" + "A" * 43,  # stray low bits
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 25,  # not base64
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43 + "\n",
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA",
    ],
)
def test_malformed_stored_strings_raise_without_quoting_them(encoded: str) -> None:
    with pytest.raises(ValueError, match="Argon2id") as verifying:
        verify_password(PASSPHRASE, encoded)
    with pytest.raises(ValueError, match="Argon2id") as checking:
        needs_rehash(encoded)
    for caught in (verifying, checking):
        assert not isinstance(caught.value, PasswordPolicyError)
        if encoded:
            assert encoded not in str(caught.value)
            assert "c29tZXNhbHRzb21lc2Fsd" not in str(caught.value)
