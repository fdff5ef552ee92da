"""Single-use recovery codes: NIST SP 800-63B §5.1.2 look-up secrets.

A code is twelve Crockford base32 symbols (60 random bits) shown as ``XXXX-XXXX-XXXX``. Crockford's
alphabet has no I, L, O or U, and decoding maps the look-alikes I/L to 1 and O to 0, so a code read
off paper and typed back in still matches.

Storage. §5.1.2.2: look-up secrets with at least 112 bits of entropy may be stored under a plain
approved hash, but those "with fewer than 112 bits of entropy SHALL be salted and hashed using a
suitable one-way key derivation function", with a salt of at least 32 bits. 60 bits is well under
112: under salted SHA-256 one code of a stolen list of ten is found after about 2**60 / 11 guesses,
some two months for one GPU at ~2e10 hashes a second. So the codes are hashed with Argon2id at the
password parameters, which costs the attacker millions of times more per guess. One salt per list
keeps a verification to a single derivation, compared against every stored hash.

Because 60 bits is also under 64, §5.1.2.2 requires the verifier to rate-limit failed attempts
(§5.2.2): guard `matching_code_index` with `identity.lockout`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from identity.passwords import HASH_LENGTH, ITERATIONS, LANES, MEMORY_COST_KIB

CROCKFORD_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SYMBOLS: Final = 12  # 12 x 5 = 60 bits
GROUP: Final = 4
MIN_SALT_BYTES: Final = 16  # RFC 9106 §3.1; well above §5.1.2.2's 32 bits

# Crockford base32 decoding: lower case is accepted, I and L read as 1, O as 0; hyphens (and here
# spaces) are only for the eye.
_TRANSLATE: Final = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None})
_ALPHABET_SET: Final = frozenset(CROCKFORD_ALPHABET)


def new_recovery_codes(count: int = 10) -> list[str]:
    """*count* fresh codes such as ``4F7Q-9KD2-XM3P``, each from the system CSPRNG."""
    if count < 1:
        raise ValueError("count must be positive")
    return [_new_code() for _ in range(count)]


def normalise_code(code: str) -> str:
    """Upper case, without spaces or dashes, I/L read as 1 and O as 0 (Crockford decoding)."""
    return "".join(code.split()).upper().translate(_TRANSLATE)


def hash_recovery_code(code: str, salt: bytes) -> str:
    """Hex Argon2id of the normalised code under *salt* (one salt per citizen's list).

    A KDF, not plain SHA-256: see the module docstring for NIST SP 800-63B §5.1.2.2.
    """
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"the salt must be at least {MIN_SALT_BYTES} bytes")
    kdf = Argon2id(
        salt=salt,
        length=HASH_LENGTH,
        iterations=ITERATIONS,
        lanes=LANES,
        memory_cost=MEMORY_COST_KIB,
    )
    return kdf.derive(normalise_code(code).encode("utf-8")).hex()


def matching_code_index(code: str, hashes: Sequence[str | None], salt: bytes) -> int | None:
    """The index in *hashes* of the stored hash of *code*, else None. Used codes are None.

    The offered code is derived once and compared, in constant time, against every unused hash,
    so timing does not tell which code matched. Codes that cannot be well formed (wrong length or
    symbols) are refused before any hashing. The caller marks the returned index used
    (§5.1.2.2: each secret "SHALL be used successfully only once").
    """
    normalised = normalise_code(code)
    if len(normalised) != SYMBOLS or not _ALPHABET_SET.issuperset(normalised):
        return None
    offered = hash_recovery_code(normalised, salt).encode("ascii")
    matched: int | None = None
    for index, stored in enumerate(hashes):
        if stored is None:
            continue
        if hmac.compare_digest(offered, stored.encode("ascii")) and matched is None:
            matched = index
    return matched


def _new_code() -> str:
    symbols = "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(SYMBOLS))
    return "-".join(symbols[i : i + GROUP] for i in range(0, SYMBOLS, GROUP))
