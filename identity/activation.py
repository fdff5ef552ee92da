"""Activation codes: how a newly registered (or recovered) citizen sets up their first
authenticator without anyone else being able to.

The registrar gets the code once, at registration, and hands it to the citizen out of band (a
letter to the address of record, the counter). It is single-use (it adds one authenticator; a
two-step enrolment presents it at both steps, and only the completion spends it) and expires.
The ledger holds only its SHA-256: 100 random bits need no slow hash (as for API keys, nothing
low-entropy is there to guess), and the hash is useless to whoever reads the ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

# Crockford-like: no I, O, 0 or 1, so a code read off a letter is typed back right.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GROUPS, GROUP_LENGTH = 5, 4  # 20 characters of 5 bits: 100 bits
MAX_CODE_LENGTH = 64
# Why a code is refused, as sent (ErrorInfo.reason): wrong, used or replaced are one reason, so
# a caller learns nothing about codes it does not hold; expiry is the citizen's to know.
ACTIVATION_REASONS = {"invalid": "ACTIVATION_CODE_INVALID", "expired": "ACTIVATION_CODE_EXPIRED"}


def new_activation_code() -> str:
    characters = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(
        characters[i : i + GROUP_LENGTH] for i in range(0, len(characters), GROUP_LENGTH)
    )


def normalised(code: str) -> str:
    """As typed: letter case, dashes and spaces do not matter."""
    return "".join(c for c in code.upper() if c not in "- ")


def hash_activation_code(code: str) -> str:
    return hashlib.sha256(f"civitas-activation:{normalised(code)}".encode()).hexdigest()


@dataclass
class Activation:
    """The citizen's current activation code, as the aggregate remembers it."""

    code_hash: str
    expires_at: datetime
    used: bool = False


def activation_refusal(activation: Activation | None, code_hash: str, now: datetime) -> str:
    """Why this code may not be used now ("" when it may): the stable reason sent."""
    if (
        activation is None
        or activation.used
        or not hmac.compare_digest(activation.code_hash, code_hash)
    ):
        return ACTIVATION_REASONS["invalid"]
    if now >= activation.expires_at:
        return ACTIVATION_REASONS["expired"]
    return ""
