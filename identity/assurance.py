"""Assurance levels: what a combination of factors proves (NIST SP 800-63B section 4, eIDAS).

AAL1: one factor. AAL2: two distinct factors, or a multi-factor cryptographic authenticator (a
passkey with user verification). AAL3: a multi-factor authenticator whose key cannot leave the
device (not synced), when policy accepts hardware-bound passkeys as verifier-impersonation
resistant.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

IDENTITY_TO_EIDAS = {"IAL1": "low", "IAL2": "substantial", "IAL3": "high"}
AAL_TO_EIDAS = {"AAL1": "low", "AAL2": "substantial", "AAL3": "high"}

# RFC 8176 authentication method reference values.
AMR = {"password": "pwd", "totp": "otp", "passkey": "hwk", "recovery_codes": "kba"}


@dataclass(frozen=True)
class PasskeyProof:
    user_verified: bool
    device_bound: bool


def assurance_level(
    methods: Collection[str], passkey: PasskeyProof | None, *, allow_aal3: bool
) -> str:
    if passkey is not None and passkey.user_verified:
        if passkey.device_bound and allow_aal3:
            return "AAL3"
        return "AAL2"
    if len(set(methods)) >= 2:
        return "AAL2"
    return "AAL1"
