"""Memorized secrets (passwords): NIST SP 800-63B §5.1.1 policy and Argon2id storage.

Policy (§5.1.1.2): at least 8 characters, counted in Unicode code points after NFKC normalisation;
long passphrases allowed; no composition rules; refused when on a list of common or breached
passwords. Storage (§5.1.1.2, "resistant to offline attacks"): Argon2id (RFC 9106) with the OWASP
Password Storage Cheat Sheet parameters, kept as a PHC string so that the parameters travel with
each hash and can be raised later without a migration (`needs_rehash`).

No password, hash or salt is ever put into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import importlib.resources
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

# §5.1.1.2: "at least 8 characters"; verifiers "SHOULD permit ... at least 64 characters".
MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 128

# OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1. RFC 9106 §3.1 asks for a
# 16-byte salt; 32 bytes of tag is far beyond any collision concern.
MEMORY_COST_KIB: Final = 19_456
ITERATIONS: Final = 2
LANES: Final = 1
SALT_LENGTH: Final = 16
HASH_LENGTH: Final = 32
ARGON2_VERSION: Final = 19  # 0x13, the only version RFC 9106 specifies

# NFKC composes at most four code points into one (U+1F8F is Α and three combining marks), so a
# string longer than this can never normalise to MAX_LENGTH or less; checking it first bounds the
# cost of normalising hostile megabyte inputs, with a factor of two to spare.
_RAW_LENGTH_LIMIT: Final = 8 * MAX_LENGTH

# Sanity ceilings for parameters read back from storage: generous enough to raise the cost for
# years, small enough that a corrupted or tampered row cannot exhaust the server's memory.
_MAX_MEMORY_COST_KIB: Final = 1 << 20  # 1 GiB
_MAX_ITERATIONS: Final = 64
_MAX_LANES: Final = 64

# PHC string format: decimal parameters without leading zeros, so each hash has one spelling.
_N: Final = "(?:0|[1-9][0-9]{0,9})"
_PHC = re.compile(
    rf"\$argon2id\$v=(?P<v>{_N})\$m=(?P<m>{_N}),t=(?P<t>{_N}),p=(?P<p>{_N})"
    r"\$(?P<salt>[A-Za-z0-9+/]{11,88})\$(?P<hash>[A-Za-z0-9+/]{22,88})"
)

PolicyReason = Literal["too_short", "too_long", "common", "invalid"]

_POLICY_MESSAGES: Final[dict[str, str]] = {
    "too_short": f"the password must be at least {MIN_LENGTH} characters long",
    "too_long": f"the password must be at most {MAX_LENGTH} characters long",
    "common": "the password is too common; choose another",
    "invalid": "the password contains characters that are not allowed",
}


class PasswordPolicyError(ValueError):
    """A chosen password is refused; `reason` says why (never the password itself)."""

    reason: PolicyReason

    def __init__(self, reason: PolicyReason) -> None:
        super().__init__(_POLICY_MESSAGES[reason])
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Phc:
    version: int
    memory_cost: int
    iterations: int
    lanes: int
    salt: bytes
    hash: bytes


def _normalise(password: str) -> str:
    """NFKC, as §5.1.1.2 asks "before hashing", so that the same characters typed on another
    keyboard or input method give the same secret."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str) -> None:
    """Raise `PasswordPolicyError` unless *password* may be chosen as a new memorized secret."""
    if len(password) > _RAW_LENGTH_LIMIT:
        raise PasswordPolicyError("too_long")
    normalised = _normalise(password)
    # Control characters cannot be typed reliably and hide in logs; lone surrogates cannot be
    # encoded as UTF-8 at all. Everything else, spaces and emoji included, is allowed (§5.1.1.2).
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in normalised):
        raise PasswordPolicyError("invalid")
    # §5.1.1.2: "each Unicode code point SHALL be counted as a single character".
    if len(normalised) < MIN_LENGTH:
        raise PasswordPolicyError("too_short")
    if len(normalised) > MAX_LENGTH:
        raise PasswordPolicyError("too_long")
    # §5.1.1.2: compare against "passwords obtained from previous breach corpuses" and
    # "dictionary words"; no other composition rule is imposed.
    if normalised.casefold() in common_passwords():
        raise PasswordPolicyError("common")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lowercase), read once on first use.

    Read through `importlib.resources` so that it is found both in a source checkout and in an
    installed wheel (pyproject ships ``*.txt`` as package data).
    """
    text = importlib.resources.files(__package__ or "identity").joinpath("common_passwords.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip())


def hash_password(password: str) -> str:
    """Argon2id PHC string: ``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`` (B64, no padding).

    Does not apply the policy (that is for newly chosen passwords), but refuses secrets that
    could never be verified: longer than `MAX_LENGTH` or not encodable as UTF-8.
    """
    secret = _encode(password)
    salt = secrets.token_bytes(SALT_LENGTH)
    digest = _argon2id(salt, MEMORY_COST_KIB, ITERATIONS, LANES, HASH_LENGTH).derive(secret)
    return _format_phc(
        _Phc(ARGON2_VERSION, MEMORY_COST_KIB, ITERATIONS, LANES, salt, digest),
    )


def verify_password(password: str, encoded: str) -> bool:
    """True if *password* matches the stored PHC string *encoded*.

    The comparison is constant-time. A wrong password gives False; a stored string that cannot
    be parsed raises `ValueError`, because that is corruption, not a failed login.
    """
    phc = _parse_phc(encoded)
    try:
        secret = _encode(password)
    except ValueError:
        return False  # could never have been hashed, so it cannot match
    derived = _argon2id(phc.salt, phc.memory_cost, phc.iterations, phc.lanes, len(phc.hash))
    return hmac.compare_digest(derived.derive(secret), phc.hash)


def needs_rehash(encoded: str) -> bool:
    """True if *encoded* was made with other parameters than today's (rehash at next login)."""
    phc = _parse_phc(encoded)
    current = (ARGON2_VERSION, MEMORY_COST_KIB, ITERATIONS, LANES, SALT_LENGTH, HASH_LENGTH)
    stored = (
        phc.version,
        phc.memory_cost,
        phc.iterations,
        phc.lanes,
        len(phc.salt),
        len(phc.hash),
    )
    return stored != current


def _encode(password: str) -> bytes:
    if len(password) > _RAW_LENGTH_LIMIT:
        raise PasswordPolicyError("too_long")
    normalised = _normalise(password)
    if len(normalised) > MAX_LENGTH:
        raise PasswordPolicyError("too_long")
    try:
        return normalised.encode("utf-8")
    except UnicodeEncodeError:
        pass
    # Raised outside the handler so that the UnicodeEncodeError, which carries the whole password
    # in `.object`, does not travel along as `__context__`.
    raise PasswordPolicyError("invalid")


def _argon2id(salt: bytes, memory_cost: int, iterations: int, lanes: int, length: int) -> Argon2id:
    return Argon2id(
        salt=salt,
        length=length,
        iterations=iterations,
        lanes=lanes,
        memory_cost=memory_cost,
    )


def _b64encode(data: bytes) -> str:
    # The PHC string format uses the standard alphabet without "=" padding.
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ValueError("malformed Argon2id PHC string") from None
    # Refuse non-canonical encodings (stray low bits), so one hash has exactly one spelling.
    if _b64encode(data) != text:
        raise ValueError("malformed Argon2id PHC string")
    return data


def _format_phc(phc: _Phc) -> str:
    return (
        f"$argon2id$v={phc.version}$m={phc.memory_cost},t={phc.iterations},p={phc.lanes}"
        f"${_b64encode(phc.salt)}${_b64encode(phc.hash)}"
    )


def _parse_phc(encoded: str) -> _Phc:
    match = _PHC.fullmatch(encoded)
    if match is None:
        raise ValueError("malformed Argon2id PHC string")
    phc = _Phc(
        version=int(match["v"]),
        memory_cost=int(match["m"]),
        iterations=int(match["t"]),
        lanes=int(match["p"]),
        salt=_b64decode(match["salt"]),
        hash=_b64decode(match["hash"]),
    )
    # RFC 9106 §3.1: m >= 8p, t >= 1, p >= 1; salt >= 8 bytes and tag >= 4 bytes are the floors the
    # library enforces, raised here to 16 so that a truncated row is not mistaken for a hash.
    if (
        phc.version != ARGON2_VERSION
        or not 1 <= phc.lanes <= _MAX_LANES
        or not 8 * phc.lanes <= phc.memory_cost <= _MAX_MEMORY_COST_KIB
        or not 1 <= phc.iterations <= _MAX_ITERATIONS
        or not 8 <= len(phc.salt) <= 64
        or not 16 <= len(phc.hash) <= 64
    ):
        raise ValueError("unsupported Argon2id parameters in PHC string")
    return phc
