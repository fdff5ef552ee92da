"""Assurance that is earned (issue 13): AAL3 from attested hardware only, RFC 8176 `amr`, a
minimum level a relying service asks for, username-less passkey sign-in, human-readable names."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from uuid import UUID

import pytest

from civitas.node import Node
from civitas.soft_authenticator import AttestationModel, SoftAuthenticator, new_attestation_model
from identity import base64url, passkeys
from identity.application import AuthenticationRecorded, IdentityApplication, SignedIn
from identity.attestation import load_trust_anchors
from identity.citizen import Citizen, Presented
from identity.refusals import AuthenticationFailedError
from ledger.errors import FailedPrecondition, InvalidInput
from tests.identity.conftest import ACTOR, ORIGIN, RP, Clock, code_at, person, seed_of

PASSWORD = "correct horse battery staple"


@pytest.fixture
def model() -> AttestationModel:
    return new_attestation_model()


def application(
    identity: IdentityApplication,
    on_authentication: Callable[[AuthenticationRecorded], None] | None = None,
    **settings: object,
) -> IdentityApplication:
    """A new application on the same store and keys, with other settings: what another replica,
    started with that configuration, would be (it shares no memory with *identity*)."""
    return IdentityApplication(
        identity.store,
        data_keys=identity._data_keys,
        national_ids=identity._national_ids,
        token_signer=identity._token_signer,
        settings=replace(identity.settings, **settings),  # type: ignore[arg-type]
        clock=identity._clock,
        data_access=identity._data_access,
        on_authentication=on_authentication,
    )


def aal3_identity(identity: IdentityApplication, *models: AttestationModel) -> IdentityApplication:
    trust = load_trust_anchors(json.dumps({"entries": [m.trust_list_entry() for m in models]}))
    return application(identity, allow_aal3=True, attestation=trust)


def enrol_passkey(
    identity: IdentityApplication, citizen: str, authenticator: SoftAuthenticator, label: str = ""
) -> dict[str, object]:
    registration_id, options = identity.begin_passkey_registration(citizen, label, ACTOR)
    identity.complete_passkey_registration(
        citizen, registration_id, authenticator.create(options), ACTOR
    )
    return dict(json.loads(options))


def passkey_sign_in(
    identity: IdentityApplication,
    citizen: str,
    authenticator: SoftAuthenticator,
    **requirements: object,
) -> SignedIn:
    challenge = identity.begin_authentication(citizen, "portal", ACTOR, **requirements)  # type: ignore[arg-type]
    assertion = authenticator.get(challenge.passkey_options_json)
    return identity.complete_authentication(
        challenge.attempt_id, Presented(passkey_assertion_json=assertion), ("", ""), "portal", ACTOR
    )


def topics(node: Node, stream: str) -> list[str]:
    return [e.topic.rsplit(".", 1)[-1] for e in node.store.recorder.select_events(UUID(stream))]


def test_an_attested_passkey_of_a_listed_model_reaches_aal3(
    identity: IdentityApplication, model: AttestationModel
) -> None:
    identity = aal3_identity(identity, model)
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    authenticator = SoftAuthenticator(ORIGIN, RP.id, attestation=model.key)
    options = enrol_passkey(identity, citizen, authenticator, "security key")
    assert options["attestation"] == "direct"  # asked for where AAL3 is wanted
    signed_in = passkey_sign_in(identity, citizen, authenticator)
    assert (signed_in.acr, signed_in.amr) == ("AAL3", ["hwk", "user", "pin", "mfa"])


@pytest.mark.parametrize(
    "kind", ["unlisted model", "self attestation", "no attestation", "synced", "aal3 off"]
)
def test_anything_else_stops_at_aal2(
    identity: IdentityApplication, model: AttestationModel, kind: str
) -> None:
    listed = aal3_identity(identity, model)
    authenticator = {
        "unlisted model": SoftAuthenticator(ORIGIN, attestation=new_attestation_model().key),
        "self attestation": SoftAuthenticator(ORIGIN, self_attested=True),
        # BE=0, like Chromium's virtual authenticator: no longer AAL3 on its own word.
        "no attestation": SoftAuthenticator(ORIGIN),
        "synced": SoftAuthenticator(ORIGIN, attestation=model.key, backed_up=True),
        "aal3 off": SoftAuthenticator(ORIGIN, attestation=model.key),
    }[kind]
    if kind == "aal3 off":
        listed = application(listed, allow_aal3=False)
    citizen = listed.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    options = enrol_passkey(listed, citizen, authenticator)
    assert options["attestation"] == ("none" if kind == "aal3 off" else "direct")
    signed_in = passkey_sign_in(listed, citizen, authenticator)
    assert signed_in.acr == "AAL2"
    expected_key = "hwk" if kind in ("synced", "aal3 off") else "swk"
    assert signed_in.amr == [expected_key, "user", "pin", "mfa"]


def test_aal3_is_off_by_default(identity: IdentityApplication) -> None:
    assert identity.settings.allow_aal3 is False
    with pytest.raises(FailedPrecondition) as raised:
        identity.begin_authentication("", "portal", ACTOR, required_acr="AAL3")
    assert raised.value.reason == "ASSURANCE_NOT_OFFERED"


def test_a_sign_in_below_the_required_level_is_refused_and_recorded(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    recorded: list[AuthenticationRecorded] = []
    identity = application(identity, recorded.append)
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, ACTOR)
    enrolment = identity.begin_totp_enrollment(citizen, "phone", ACTOR)
    seed = seed_of(enrolment.provisioning_uri)
    identity.confirm_totp_enrollment(
        citizen, enrolment.authenticator_id, code_at(seed, clock.now), ACTOR
    )

    challenge = identity.begin_authentication(citizen, "portal", ACTOR, required_acr="AAL2")
    with pytest.raises(AuthenticationFailedError) as raised:
        identity.complete_authentication(
            challenge.attempt_id, Presented(password=PASSWORD), ("", ""), "portal", ACTOR
        )
    assert raised.value.reason == "ASSURANCE_TOO_LOW"
    assert raised.value.metadata == {"acr": "AAL1", "required_acr": "AAL2"}
    assert topics(node, citizen)[-1] == "AuthenticationFailed"
    assert recorded == [AuthenticationRecorded(("password",), False, "assurance_too_low")]
    # The right password is not a failure: it counts towards no lockout.
    assert identity.get_citizen(citizen).locked == {
        f.authenticator_id: False for f in identity.get_citizen(citizen).authenticators
    }

    clock.advance(seconds=30)
    challenge = identity.begin_authentication(citizen, "portal", ACTOR, required_acr="AAL2")
    signed_in = identity.complete_authentication(
        challenge.attempt_id,
        Presented(password=PASSWORD, totp_code=code_at(seed, clock.now)),
        ("", ""),
        "portal",
        ACTOR,
    )
    assert (signed_in.acr, signed_in.amr) == ("AAL2", ["pwd", "otp", "mfa"])


def test_a_totp_code_shown_in_a_refused_attempt_is_spent(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    enrolment = identity.begin_totp_enrollment(citizen, "phone", ACTOR)
    seed = seed_of(enrolment.provisioning_uri)
    identity.confirm_totp_enrollment(
        citizen, enrolment.authenticator_id, code_at(seed, clock.now), ACTOR
    )
    clock.advance(seconds=30)
    code = code_at(seed, clock.now)
    strict = identity.begin_authentication(citizen, "portal", ACTOR, required_acr="AAL2")
    with pytest.raises(AuthenticationFailedError, match="assurance_too_low"):
        identity.complete_authentication(
            strict.attempt_id, Presented(totp_code=code), ("", ""), "portal", ACTOR
        )
    lax = identity.begin_authentication(citizen, "portal", ACTOR)
    with pytest.raises(AuthenticationFailedError, match="totp_replayed"):
        identity.complete_authentication(
            lax.attempt_id, Presented(totp_code=code), ("", ""), "portal", ACTOR
        )


def test_user_verification_asked_for_and_required(identity: IdentityApplication) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    enrol_passkey(identity, citizen, authenticator)
    for requirements in ({"required_acr": "AAL2"}, {"require_user_verification": True}):
        challenge = identity.begin_authentication(citizen, "portal", ACTOR, **requirements)
        assert json.loads(challenge.passkey_options_json)["userVerification"] == "required"
    lax = identity.begin_authentication(citizen, "portal", ACTOR)
    assert json.loads(lax.passkey_options_json)["userVerification"] == "preferred"

    authenticator.user_verified = False  # the authenticator ignores the request
    with pytest.raises(AuthenticationFailedError) as raised:
        passkey_sign_in(identity, citizen, authenticator, require_user_verification=True)
    assert raised.value.reason == "PASSKEY_USER_VERIFICATION"
    with pytest.raises(AuthenticationFailedError) as raised:
        passkey_sign_in(identity, citizen, authenticator, required_acr="AAL2")
    assert raised.value.reason == "ASSURANCE_TOO_LOW"
    signed_in = passkey_sign_in(identity, citizen, authenticator)
    assert (signed_in.acr, signed_in.amr) == ("AAL1", ["swk", "user"])


def test_an_unknown_required_level_is_refused(identity: IdentityApplication) -> None:
    with pytest.raises(InvalidInput) as raised:
        identity.begin_authentication("", "portal", ACTOR, required_acr="AAL4")
    assert [v.field for v in raised.value.violations] == ["required_acr"]


def test_username_less_sign_in_finds_the_citizen_on_a_fresh_replica(
    node: Node, identity: IdentityApplication
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    options = enrol_passkey(identity, citizen, authenticator)
    handle = options["user"]["id"]  # type: ignore[index]
    assert len(handle) >= 43  # 32 random bytes, base64url: not the citizen id's 16

    replica = application(identity)  # shares nothing with `identity` but the store
    challenge = replica.begin_authentication("", "portal", ACTOR)
    assert challenge.methods == ["passkey"]
    assert json.loads(challenge.passkey_options_json)["allowCredentials"] == []
    signed_in = replica.complete_authentication(
        challenge.attempt_id,
        Presented(passkey_assertion_json=authenticator.get(challenge.passkey_options_json)),
        ("", ""),
        "portal",
        ACTOR,
    )
    claims = replica.introspect(signed_in.token).claims
    assert claims["sub"] == citizen


def test_an_unknown_user_handle_is_refused_like_a_bad_assertion_and_recorded(
    node: Node, identity: IdentityApplication
) -> None:
    stranger = SoftAuthenticator(ORIGIN, RP.id)
    stranger.create(
        json.dumps(
            {
                "rp": {"id": RP.id},
                "user": {"id": "c3RyYW5nZXI", "name": "x", "displayName": "x"},
                "challenge": "AAAAAAAAAAAAAAAAAAAAAA",
            }
        )
    )
    challenge = identity.begin_authentication("", "portal", ACTOR)
    with pytest.raises(AuthenticationFailedError) as raised:
        identity.complete_authentication(
            challenge.attempt_id,
            Presented(passkey_assertion_json=stranger.get(challenge.passkey_options_json)),
            ("", ""),
            "portal",
            ACTOR,
        )
    assert raised.value.reason == "PASSKEY_UNKNOWN_CREDENTIAL"
    assert topics(node, challenge.attempt_id) == ["Started", "Completed"]
    completed = list(identity.repository.event_store.get(UUID(challenge.attempt_id)))[-1]
    assert (completed.succeeded, completed.refusal) == (False, "passkey_unknown_credential")  # type: ignore[attr-defined]

    # A citizen's real handle with a credential that is not theirs: the same answer.
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    enrol_passkey(identity, citizen, SoftAuthenticator(ORIGIN, RP.id))
    options = identity.begin_passkey_registration(citizen, "", ACTOR)[1]
    impostor = SoftAuthenticator(ORIGIN, RP.id)
    impostor.create(options)  # a key with the citizen's handle, never registered
    challenge = identity.begin_authentication("", "portal", ACTOR)
    with pytest.raises(AuthenticationFailedError) as raised:
        identity.complete_authentication(
            challenge.attempt_id,
            Presented(passkey_assertion_json=impostor.get(challenge.passkey_options_json)),
            ("", ""),
            "portal",
            ACTOR,
        )
    assert raised.value.reason == "PASSKEY_UNKNOWN_CREDENTIAL"
    assert topics(node, citizen)[-1] == "AuthenticationFailed"


def test_a_username_less_attempt_needs_a_passkey(identity: IdentityApplication) -> None:
    challenge = identity.begin_authentication("", "portal", ACTOR)
    with pytest.raises(InvalidInput) as raised:
        identity.complete_authentication(
            challenge.attempt_id, Presented(password=PASSWORD), ("", ""), "portal", ACTOR
        )
    assert [v.field for v in raised.value.violations] == ["passkey_assertion_json"]


def test_names_are_human_readable_and_labels_are_kept(identity: IdentityApplication) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    options = enrol_passkey(identity, citizen, SoftAuthenticator(ORIGIN, RP.id), "YubiKey 5")
    assert options["user"]["name"] == "maarja@example.test"  # type: ignore[index]
    assert options["user"]["displayName"] == "Maarja Tamm"  # type: ignore[index]
    registration_id, chosen = identity.begin_passkey_registration(
        citizen, "", ACTOR, account="maarja.tamm"
    )
    assert json.loads(chosen)["user"]["name"] == "maarja.tamm"
    assert registration_id

    enrolment = identity.begin_totp_enrollment(citizen, "phone", ACTOR)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/civitas:maarja%40example.test?")
    named = identity.begin_totp_enrollment(citizen, "tablet", ACTOR, account="Maarja at home")
    assert "civitas:Maarja%20at%20home?" in named.provisioning_uri
    assert citizen not in enrolment.provisioning_uri + named.provisioning_uri

    labels = sorted(f.label for f in identity.get_citizen(citizen).authenticators)
    assert labels == ["YubiKey 5"]  # TOTP counts once confirmed


def test_a_passkey_registered_before_user_handles_still_signs_in(
    identity: IdentityApplication,
) -> None:
    """Before issue 13, user.id was the citizen id and no handle was stored with the passkey."""
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    options, challenge = passkeys.registration_options(RP, UUID(citizen).bytes, citizen, "x")
    passkey = passkeys.verify_registration(RP, authenticator.create(options), challenge)

    def register_as_before(registered: Citizen) -> object:
        registration_id = registered.start_passkey_registration(
            base64url.encode(challenge), "", actor=ACTOR
        )
        details = {
            "credential_id": base64url.encode(passkey.credential_id),
            "public_key": base64url.encode(passkey.public_key),
            "sign_count": passkey.sign_count,
            "transports": list(passkey.transports),
            "aaguid": passkey.aaguid,
            "user_verified": passkey.user_verified,
            "backed_up": passkey.backed_up,
        }
        return registered.register_passkey(registration_id, "passkey", details, actor=ACTOR)

    identity._update(citizen, register_as_before)
    assert passkey_sign_in(identity, citizen, authenticator).acr == "AAL2"
    username_less = passkey_sign_in(identity, "", authenticator)
    assert identity.introspect(username_less.token).claims["sub"] == citizen


def test_an_erased_citizens_passkey_is_refused_like_a_strangers(
    identity: IdentityApplication,
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    enrol_passkey(identity, citizen, authenticator)
    identity.erase_citizen(citizen, "GDPR art. 17", "service:admin")
    with pytest.raises(AuthenticationFailedError) as raised:
        passkey_sign_in(identity, "", authenticator)
    assert raised.value.reason == "PASSKEY_UNKNOWN_CREDENTIAL"
