"""Assurance levels: what a combination of factors proves (NIST SP 800-63B section 4, eIDAS).

AAL1: one factor. AAL2: two distinct factors, or a multi-factor cryptographic authenticator (a
passkey with user verification). AAL3: a multi-factor cryptographic authenticator that is
hardware, whose key cannot leave it, and is verifier-impersonation resistant: a user-verified
passkey, not backup eligible, whose attestation chains to a root the operator trusts
(identity.attestation), and only where the operator allows AAL3 at all. A passkey without such
an attestation says it is hardware about itself only, so it stops at AAL2 whatever its flags say.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ledger.errors import FailedPrecondition, InvalidInput

IDENTITY_TO_EIDAS = {"IAL1": "low", "IAL2": "substantial", "IAL3": "high"}
AAL_TO_EIDAS = {"AAL1": "low", "AAL2": "substantial", "AAL3": "high"}
LEVELS = ("AAL1", "AAL2", "AAL3")

# RFC 8176 authentication method reference values of the factors that are not passkeys.
AMR = {"password": "pwd", "totp": "otp", "recovery_codes": "kba"}


@dataclass(frozen=True)
class PasskeyProof:
    user_verified: bool
    device_bound: bool
    attested: bool = False  # its attestation chains to a trusted root for its model


def assurance_level(
    methods: Collection[str], passkey: PasskeyProof | None, *, allow_aal3: bool
) -> str:
    if passkey is not None and passkey.user_verified:
        if passkey.attested and passkey.device_bound and allow_aal3:
            return "AAL3"
        return "AAL2"
    if len(set(methods)) >= 2:
        return "AAL2"
    return "AAL1"


def meets(acr: str, required: str) -> bool:
    """Whether a sign-in at *acr* satisfies a relying service that asked for *required* ("" for
    no minimum)."""
    return not required or LEVELS.index(acr) >= LEVELS.index(required)


def check_required_level(required_acr: str, *, aal3_offered: bool) -> None:
    """A relying service's minimum level: one of LEVELS or none, and one this deployment can
    reach (asking every citizen for an AAL3 nobody can earn is the service's mistake to see)."""
    if required_acr and required_acr not in LEVELS:
        raise InvalidInput.of("required_acr", f"one of {', '.join(LEVELS)}, or empty")
    if required_acr == "AAL3" and not aal3_offered:
        raise FailedPrecondition(
            "this deployment does not offer AAL3 (no attested passkeys are trusted)",
            reason="ASSURANCE_NOT_OFFERED",
        )


def amr_values(methods: Collection[str], passkey: PasskeyProof | None, acr: str) -> list[str]:
    """RFC 8176 values for a sign-in, in the order of `methods`, then `mfa`.

    A passkey is `hwk` only when attested hardware, `swk` otherwise (a software or synced key, or
    one nobody vouches for); `user` for the test of user presence every accepted assertion
    carries; `pin` when the authenticator verified the user (WebAuthn's UV flag, which does not
    say whether by PIN or by a biometric that unlocks the key). `mfa` when the factors together
    are multi-factor, which is what AAL2 and AAL3 require.
    """
    values: list[str] = []
    for method in methods:
        if method != "passkey":
            values.append(AMR[method])
            continue
        attested = passkey is not None and passkey.attested
        values.extend(["hwk" if attested else "swk", "user"])
        if passkey is not None and passkey.user_verified:
            values.append("pin")
    if acr in ("AAL2", "AAL3"):
        values.append("mfa")
    return values
