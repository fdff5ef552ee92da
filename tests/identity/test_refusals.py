"""A refused sign-in's stored reason becomes a stable reason for the caller."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import pytest

from identity.passkeys import Reason
from identity.refusals import PASSKEY_REASONS, AuthenticationFailedError


def test_every_passkey_check_has_a_reason() -> None:
    assert set(PASSKEY_REASONS) == set(get_args(Reason))


@pytest.mark.parametrize(
    ("refusal", "reason", "method"),
    [
        ("password_mismatch", "PASSWORD_MISMATCH", ""),
        ("totp_replayed", "TOTP_REPLAYED", ""),
        ("passkey_origin", "PASSKEY_ORIGIN", ""),
        ("attempt_already_used", "ATTEMPT_ALREADY_USED", ""),
        ("totp_locked", "FACTOR_LOCKED", "totp"),
        ("recovery_codes_not_enrolled", "FACTOR_NOT_ENROLLED", "recovery_codes"),
        ("passkey_throttled", "FACTOR_THROTTLED", "passkey"),
        ("password_sideways", "AUTHENTICATION_FAILED", ""),  # unknown: a bug, said as such
    ],
)
def test_each_stored_refusal_has_its_reason_and_names_the_factor_where_it_applies(
    refusal: str, reason: str, method: str
) -> None:
    error = AuthenticationFailedError(refusal)
    assert error.reason == reason
    assert error.metadata == ({"method": method} if method else {})
    assert error.refusal == refusal
    assert str(error) == f"authentication failed: {refusal}"  # the operator's log keeps it


def test_a_throttled_factor_says_how_long_to_wait() -> None:
    error = AuthenticationFailedError("password_throttled", timedelta(milliseconds=1500))
    assert error.retry_after == 1.5
    assert AuthenticationFailedError("password_mismatch").retry_after is None
