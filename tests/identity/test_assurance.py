"""Tests for identity.assurance: AAL3 is earned by attested hardware only, amr follows RFC 8176."""

from __future__ import annotations

import pytest

from identity.assurance import PasskeyProof, amr_values, assurance_level, meets

ATTESTED = PasskeyProof(user_verified=True, device_bound=True, attested=True)
UNATTESTED = PasskeyProof(user_verified=True, device_bound=True, attested=False)
SYNCED = PasskeyProof(user_verified=True, device_bound=False, attested=True)
NOT_VERIFIED = PasskeyProof(user_verified=False, device_bound=True, attested=True)


@pytest.mark.parametrize(
    ("methods", "passkey", "allow_aal3", "acr"),
    [
        (["passkey"], ATTESTED, True, "AAL3"),
        (["passkey"], ATTESTED, False, "AAL2"),  # the operator has not turned AAL3 on
        (["passkey"], UNATTESTED, True, "AAL2"),  # BE=0 alone is the key's own word
        (["passkey"], SYNCED, True, "AAL2"),
        (["passkey"], NOT_VERIFIED, True, "AAL1"),
        (["password", "passkey"], NOT_VERIFIED, True, "AAL2"),
        (["password", "totp"], None, True, "AAL2"),
        (["password"], None, True, "AAL1"),
    ],
)
def test_assurance_level(
    methods: list[str], passkey: PasskeyProof | None, allow_aal3: bool, acr: str
) -> None:
    assert assurance_level(methods, passkey, allow_aal3=allow_aal3) == acr


def test_amr_names_hardware_only_when_attested_and_mfa_when_multi_factor() -> None:
    assert amr_values(["passkey"], ATTESTED, "AAL3") == ["hwk", "user", "pin", "mfa"]
    assert amr_values(["passkey"], UNATTESTED, "AAL2") == ["swk", "user", "pin", "mfa"]
    assert amr_values(["passkey"], NOT_VERIFIED, "AAL1") == ["hwk", "user"]
    assert amr_values(["password", "totp"], None, "AAL2") == ["pwd", "otp", "mfa"]
    assert amr_values(["password"], None, "AAL1") == ["pwd"]
    assert amr_values(["recovery_codes"], None, "AAL1") == ["kba"]


def test_meets() -> None:
    assert meets("AAL1", "")
    assert meets("AAL2", "AAL2")
    assert meets("AAL3", "AAL2")
    assert not meets("AAL2", "AAL3")
    assert not meets("AAL1", "AAL2")
