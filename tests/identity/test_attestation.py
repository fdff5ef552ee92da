"""Tests for identity.attestation and attested registration: only a "packed" statement whose chain
reaches a root the allow-list names for the AAGUID makes a passkey `attested`."""

from __future__ import annotations

import json

import pytest

from civitas.soft_authenticator import SoftAuthenticator, new_attestation_model
from identity.attestation import (
    NO_TRUST,
    TrustAnchors,
    TrustListError,
    certificate_aaguid,
    load_trust_anchors,
)
from identity.passkeys import PasskeyError, RegisteredPasskey, registration_options
from identity.passkeys import verify_registration as verify
from tests.identity.test_passkeys import ORIGIN, RP, USER_ID


def trust_list(*entries: dict[str, object]) -> TrustAnchors:
    return load_trust_anchors(json.dumps({"entries": list(entries)}))


def register(authenticator: SoftAuthenticator, trust: TrustAnchors) -> RegisteredPasskey:
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice", attestation=True)
    assert json.loads(options)["attestation"] == "direct"
    return verify(RP, authenticator.create(options), challenge, trust=trust)


def test_an_allow_listed_model_is_attested_and_others_are_not() -> None:
    model, stranger = new_attestation_model(), new_attestation_model()
    trust = trust_list(model.trust_list_entry())

    passkey = register(SoftAuthenticator(ORIGIN, attestation=model.key), trust)
    assert (passkey.attestation_format, passkey.aaguid, passkey.attested) == (
        "packed",
        model.aaguid,
        True,
    )
    # A valid chain to a root nobody listed: registered, not trusted.
    assert not register(SoftAuthenticator(ORIGIN, attestation=stranger.key), trust).attested
    # The same model with no allow-list configured.
    assert not register(SoftAuthenticator(ORIGIN, attestation=model.key), NO_TRUST).attested


def test_a_key_that_attests_itself_or_nothing_is_not_attested() -> None:
    model = new_attestation_model()
    trust = trust_list(model.trust_list_entry())
    self_attested = register(SoftAuthenticator(ORIGIN, self_attested=True), trust)
    assert (self_attested.attestation_format, self_attested.attested) == ("packed", False)
    unattested = register(SoftAuthenticator(ORIGIN), trust)
    assert (unattested.attestation_format, unattested.attested) == ("none", False)


def test_a_stolen_aaguid_with_another_chain_is_not_attested() -> None:
    """A key of another maker claims the listed model's AAGUID: its chain does not reach the
    listed root, so it registers untrusted (and its certificate names another AAGUID)."""
    model = new_attestation_model()
    impostor = new_attestation_model()
    forged_key = type(impostor.key)(model.key.aaguid, impostor.key.private_key, impostor.key.chain)
    trust = trust_list(model.trust_list_entry())
    assert not register(SoftAuthenticator(ORIGIN, attestation=forged_key), trust).attested
    assert certificate_aaguid(impostor.key.chain[0]) == impostor.aaguid


def test_a_forged_attestation_signature_is_refused() -> None:
    model, other = new_attestation_model(), new_attestation_model()
    # The listed chain, signed with a key that is not its leaf's.
    forged_key = type(model.key)(model.key.aaguid, other.key.private_key, model.key.chain)
    trust = trust_list(model.trust_list_entry())
    with pytest.raises(PasskeyError) as raised:
        register(SoftAuthenticator(ORIGIN, attestation=forged_key), trust)
    assert raised.value.reason == "signature"


def test_the_allow_list_leaves_out_compromised_models_and_refuses_bad_files() -> None:
    model = new_attestation_model()
    revoked = {**model.trust_list_entry(), "statusReports": [{"status": "REVOKED"}]}
    assert not trust_list(revoked)
    assert trust_list(model.trust_list_entry()).roots_for(model.aaguid.upper())
    # U2F entries (no AAGUID) are no passkeys and are skipped.
    assert not trust_list({"aaid": "4e4e#4005", "metadataStatement": {}})
    for text, message in [
        ("not json", "not JSON"),
        ("{}", '"entries"'),
        ("eyJh.eyJi.c2ln", "JWT"),
        (json.dumps({"entries": [{"aaguid": "x"}]}), "not an AAGUID"),
        (json.dumps({"entries": [{"aaguid": "00000000-0000-0000-0000-000000000000"}]}), "zeros"),
        (
            json.dumps({"entries": [{"aaguid": model.aaguid, "metadataStatement": {}}]}),
            "attestationRootCertificates",
        ),
        (
            json.dumps(
                {
                    "entries": [
                        {
                            "aaguid": model.aaguid,
                            "metadataStatement": {"attestationRootCertificates": ["AAAA"]},
                        }
                    ]
                }
            ),
            "cannot be read",
        ),
    ]:
        with pytest.raises(TrustListError, match=message):
            load_trust_anchors(text)
    pem = model.root_pem.decode("ascii")
    entry: dict[str, object] = {
        "aaguid": model.aaguid,
        "metadataStatement": {"attestationRootCertificates": [pem]},
    }
    assert trust_list(entry).roots_for(model.aaguid) == (model.root_pem,)
