"""Why a sign-in was refused, as the relying service sees it.

The citizen's `AuthenticationFailed` event stores the refusal per factor (`totp_locked`,
`passkey_origin`): that is the ledger's record and its metrics label, and it stays as it is.
The caller gets a stable `ErrorInfo.reason` instead, one per kind of failure, with the factor
in `ErrorInfo.metadata["method"]` where the kind applies to any factor: a portal branches on a
few reasons (`FACTOR_LOCKED`, `PASSWORD_MISMATCH`), never on a stored string or an English text.
"""

from __future__ import annotations

from datetime import timedelta

from identity import passkeys
from identity.citizen import METHODS
from ledger.errors import Unauthenticated

# A passkey refused by one of the WebAuthn checks (`passkeys.PasskeyError.reason`), at
# registration (INVALID_ARGUMENT) or at sign-in (UNAUTHENTICATED).
PASSKEY_REASONS: dict[passkeys.Reason, str] = {
    "malformed": "PASSKEY_MALFORMED",
    "challenge": "PASSKEY_CHALLENGE",
    "origin": "PASSKEY_ORIGIN",
    "rp_id": "PASSKEY_RP_ID",
    "signature": "PASSKEY_SIGNATURE",
    "user_verification": "PASSKEY_USER_VERIFICATION",
    "sign_count_regressed": "PASSKEY_SIGN_COUNT_REGRESSED",
    "unknown_credential": "PASSKEY_UNKNOWN_CREDENTIAL",
}
# Refusals that name one factor's check, or the attempt itself.
SIGN_IN_REASONS = {
    "attempt_already_used": "ATTEMPT_ALREADY_USED",
    "attempt_expired": "ATTEMPT_EXPIRED",
    "no_factor_presented": "NO_FACTOR_PRESENTED",
    "password_mismatch": "PASSWORD_MISMATCH",
    "totp_mismatch": "TOTP_MISMATCH",
    "totp_replayed": "TOTP_REPLAYED",
    "recovery_code_mismatch": "RECOVERY_CODE_MISMATCH",
    "assurance_too_low": "ASSURANCE_TOO_LOW",
    **{f"passkey_{check}": reason for check, reason in PASSKEY_REASONS.items()},
}
# Refusals `<method>_<state>` that any factor can be in.
FACTOR_STATE_REASONS = {
    "not_enrolled": "FACTOR_NOT_ENROLLED",
    "locked": "FACTOR_LOCKED",
    "throttled": "FACTOR_THROTTLED",
}


class AuthenticationFailedError(Unauthenticated):
    """The attempt was refused (and recorded). `refusal` is the stored reason; `reason` the
    stable one the caller gets. Both are safe to show the relying service: they say which
    check failed, never what the secret was or what it should have been."""

    reason = "AUTHENTICATION_FAILED"  # a refusal this module does not know: a bug, not a guess

    def __init__(
        self,
        refusal: str,
        retry_after: timedelta | None = None,
        *,
        reached: str = "",
        required: str = "",
    ) -> None:
        method, state = _factor_state(refusal)
        metadata = {"method": method} if method else {}
        if refusal == "assurance_too_low":
            # The relying service asked for `required_acr` and sent the factors: it may know.
            metadata = {"acr": reached, "required_acr": required}
        super().__init__(
            f"authentication failed: {refusal}",
            reason=SIGN_IN_REASONS.get(refusal) or FACTOR_STATE_REASONS.get(state),
            retry_after=retry_after.total_seconds() if retry_after else None,
            metadata=metadata or None,
        )
        self.refusal = refusal


def _factor_state(refusal: str) -> tuple[str, str]:
    """("totp", "locked") for "totp_locked"; ("", "") for a refusal of no factor's state."""
    for method in METHODS:
        state = refusal.removeprefix(f"{method}_")
        if state != refusal and state in FACTOR_STATE_REASONS:
            return method, state
    return "", ""
