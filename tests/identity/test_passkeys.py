"""Tests for identity.passkeys: both WebAuthn ceremonies end to end, against a soft authenticator.

Every response here is real: SoftAuthenticator writes the bytes a browser and a platform
authenticator would, and py_webauthn verifies them. Failures are asserted by `reason`, since that
is what callers branch on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civitas.soft_authenticator import SoftAuthenticator
from identity.base64url import decode as b64url_decode
from identity.base64url import encode as b64url
from identity.passkeys import (
    MIN_CHALLENGE_BYTES,
    PasskeyAssertion,
    PasskeyError,
    RegisteredPasskey,
    RelyingParty,
    authentication_options,
    credential_id_of,
    registration_options,
    sign_count_of,
    sign_count_regressed,
    user_handle_of,
    verify_authentication,
    verify_registration,
)

ORIGIN = "https://portal.civitas.localhost"
RP = RelyingParty(id="civitas.localhost", name="Civitas", origins=(ORIGIN,))
PHISHING_ORIGIN = "https://portal.civitas.localhost.example"
USER_ID = b"citizen-7f3a"

fuzz = settings(max_examples=100, deadline=None)


def register(authenticator: SoftAuthenticator) -> RegisteredPasskey:
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice Example")
    return verify_registration(RP, authenticator.create(options), challenge)


def authenticate(
    authenticator: SoftAuthenticator, passkey: RegisteredPasskey, stored_sign_count: int
) -> PasskeyAssertion:
    options, challenge = authentication_options(RP, [passkey.credential_id])
    return verify_authentication(
        RP, authenticator.get(options), challenge, passkey.public_key, stored_sign_count
    )


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(PasskeyError) as caught:
        call()
    return caught.value.reason


def edit_response(response_json: str, field: str, edit: Callable[[bytes], bytes]) -> str:
    """The response with one base64url field of `response` decoded, edited and re-encoded."""
    document = json.loads(response_json)
    document["response"][field] = b64url(edit(b64url_decode(document["response"][field])))
    return json.dumps(document)


@dataclass(frozen=True)
class Ceremonies:
    """One valid registration and one valid assertion, shared by the fuzzing properties."""

    registration_json: str
    registration_challenge: bytes
    passkey: RegisteredPasskey
    assertion_json: str
    assertion_challenge: bytes


@functools.cache
def ceremonies() -> Ceremonies:
    authenticator = SoftAuthenticator(ORIGIN)
    options, registration_challenge = registration_options(RP, USER_ID, "alice", "Alice")
    registration_json = authenticator.create(options)
    passkey = verify_registration(RP, registration_json, registration_challenge)
    options, assertion_challenge = authentication_options(RP, [passkey.credential_id])
    return Ceremonies(
        registration_json=registration_json,
        registration_challenge=registration_challenge,
        passkey=passkey,
        assertion_json=authenticator.get(options),
        assertion_challenge=assertion_challenge,
    )


def verify_reference_assertion(assertion_json: str) -> PasskeyAssertion:
    valid = ceremonies()
    return verify_authentication(
        RP, assertion_json, valid.assertion_challenge, valid.passkey.public_key, 0
    )


def verify_reference_registration(credential_json: str) -> RegisteredPasskey:
    return verify_registration(RP, credential_json, ceremonies().registration_challenge)


# --- options ---------------------------------------------------------------------------------


def test_registration_options_ask_for_a_verified_discoverable_credential() -> None:
    excluded = [b"\x01" * 16, b"\x02" * 32]
    options_json, challenge = registration_options(RP, USER_ID, "alice", "Alice", excluded)
    options = json.loads(options_json)
    assert options["rp"] == {"id": "civitas.localhost", "name": "Civitas"}
    assert options["user"] == {"id": b64url(USER_ID), "name": "alice", "displayName": "Alice"}
    assert b64url_decode(options["challenge"]) == challenge
    assert len(challenge) >= MIN_CHALLENGE_BYTES
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    assert options["timeout"] == 300_000
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert [b64url_decode(c["id"]) for c in options["excludeCredentials"]] == excluded


def test_authentication_options_prefer_user_verification() -> None:
    allowed = [b"\x03" * 32]
    options_json, challenge = authentication_options(RP, allowed)
    options = json.loads(options_json)
    assert options["rpId"] == "civitas.localhost"
    assert b64url_decode(options["challenge"]) == challenge
    assert options["userVerification"] == "preferred"
    assert options["timeout"] == 300_000
    assert [b64url_decode(c["id"]) for c in options["allowCredentials"]] == allowed
    required = json.loads(authentication_options(RP, [], require_user_verification=True)[0])
    assert (required["userVerification"], required["allowCredentials"]) == ("required", [])


def test_every_ceremony_gets_a_fresh_challenge() -> None:
    challenges = {registration_options(RP, USER_ID, "a", "A")[1] for _ in range(3)}
    challenges |= {authentication_options(RP, [])[1] for _ in range(3)}
    assert len(challenges) == 6


@pytest.mark.parametrize("user_id", [b"", bytes(65)])
def test_registration_options_refuse_a_user_handle_outside_the_spec(user_id: bytes) -> None:
    with pytest.raises(ValueError, match="user_id"):
        registration_options(RP, user_id, "alice", "Alice")


# --- the happy path --------------------------------------------------------------------------


def test_registration_returns_what_is_needed_to_authenticate() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    assert passkey.credential_id in authenticator.credentials
    assert passkey.sign_count == 0
    assert passkey.transports == ("internal",)
    assert passkey.aaguid == "00000000-0000-0000-0000-000000000000"
    assert passkey.user_verified is True
    assert passkey.backed_up is False
    assert passkey.attestation_format == "none"


def test_a_synced_passkey_is_reported_as_backed_up() -> None:
    assert register(SoftAuthenticator(ORIGIN, backed_up=True)).backed_up is True


def test_authentication_returns_the_credential_and_its_growing_counter() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    first = authenticate(authenticator, passkey, passkey.sign_count)
    second = authenticate(authenticator, passkey, first.new_sign_count)
    assert first == PasskeyAssertion(
        passkey.credential_id, new_sign_count=1, user_verified=True, user_handle=USER_ID
    )
    assert second.new_sign_count == 2


def test_a_discoverable_credential_is_found_by_its_raw_id() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    options, challenge = authentication_options(RP, [])
    assertion = authenticator.get(options)
    assert credential_id_of(assertion) == passkey.credential_id
    assert user_handle_of(assertion) == USER_ID  # how a username-less sign-in finds the citizen
    verified = verify_authentication(RP, assertion, challenge, passkey.public_key, 0)
    assert verified.credential_id == passkey.credential_id


def test_authenticators_without_a_counter_always_report_zero() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    authenticator.set_sign_count(passkey.credential_id, -1)  # the next assertion carries 0
    assert authenticate(authenticator, passkey, 0).new_sign_count == 0


# --- signature counter (§6.1.1) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "new", "regressed"),
    [
        (0, 0, False),
        (0, 1, False),
        (1, 2, False),
        (1, 1, True),
        (5, 4, True),
        (5, 0, True),
        (0xFFFFFFFF, 0, True),
    ],
)
def test_sign_count_regressed(stored: int, new: int, regressed: bool) -> None:
    assert sign_count_regressed(stored, new) is regressed


def test_sign_count_is_read_from_bytes_33_to_36_big_endian() -> None:
    assert sign_count_of(bytes(32) + b"\x05" + b"\x01\x02\x03\x04") == 0x01020304
    assert reason_of(lambda: sign_count_of(bytes(36))) == "malformed"


def test_a_counter_below_the_stored_one_is_a_possible_clone() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    authenticator.set_sign_count(passkey.credential_id, 2)  # next assertion carries 3
    assert reason_of(lambda: authenticate(authenticator, passkey, 10)) == "sign_count_regressed"


def test_an_equal_non_zero_counter_is_a_possible_clone() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    authenticator.set_sign_count(passkey.credential_id, 4)  # next assertion carries 5
    assert reason_of(lambda: authenticate(authenticator, passkey, 5)) == "sign_count_regressed"


def test_a_forged_assertion_is_never_blamed_on_a_clone() -> None:
    # A caller may suspend a credential flagged as cloned; only a signed counter may cause that.
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    options, challenge = authentication_options(RP, [passkey.credential_id])
    forged = edit_response(authenticator.get(options), "signature", flip_last_byte)
    assert (
        reason_of(lambda: verify_authentication(RP, forged, challenge, passkey.public_key, 1000))
        == "signature"
    )


# --- each check has its own reason -----------------------------------------------------------


def test_registration_from_another_origin_is_refused() -> None:
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice")
    response = SoftAuthenticator(PHISHING_ORIGIN, rp_id=RP.id).create(options)
    assert reason_of(lambda: verify_registration(RP, response, challenge)) == "origin"


def test_assertion_from_another_origin_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    options, challenge = authentication_options(RP, [passkey.credential_id])
    phished = authenticator.get(options, origin=PHISHING_ORIGIN)
    assert (
        reason_of(lambda: verify_authentication(RP, phished, challenge, passkey.public_key, 0))
        == "origin"
    )


def test_a_ceremony_inside_a_cross_origin_frame_is_refused() -> None:
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice")
    response = SoftAuthenticator(ORIGIN).create(options)
    framed = edit_response(
        response,
        "clientDataJSON",
        lambda data: data.replace(b'"crossOrigin":false', b'"crossOrigin":true'),
    )
    assert reason_of(lambda: verify_registration(RP, framed, challenge)) == "origin"


def test_registration_for_another_rp_id_is_refused() -> None:
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice")
    response = SoftAuthenticator(ORIGIN).create(options, rp_id="civitas.example")
    assert reason_of(lambda: verify_registration(RP, response, challenge)) == "rp_id"


def test_assertion_for_another_rp_id_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    options, challenge = authentication_options(RP, [passkey.credential_id])
    assertion = authenticator.get(options, rp_id="civitas.example")
    assert (
        reason_of(lambda: verify_authentication(RP, assertion, challenge, passkey.public_key, 0))
        == "rp_id"
    )


def test_registration_for_another_challenge_is_refused() -> None:
    options, _ = registration_options(RP, USER_ID, "alice", "Alice")
    _, other_challenge = registration_options(RP, USER_ID, "alice", "Alice")
    response = SoftAuthenticator(ORIGIN).create(options)
    assert reason_of(lambda: verify_registration(RP, response, other_challenge)) == "challenge"


def test_a_replayed_assertion_is_refused_for_the_next_challenge() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    options, first_challenge = authentication_options(RP, [passkey.credential_id])
    assertion = authenticator.get(options)
    verify_authentication(RP, assertion, first_challenge, passkey.public_key, 0)
    _, next_challenge = authentication_options(RP, [passkey.credential_id])
    assert (
        reason_of(
            lambda: verify_authentication(RP, assertion, next_challenge, passkey.public_key, 1)
        )
        == "challenge"
    )


def test_an_empty_expected_challenge_matches_nothing() -> None:
    # A lost session must not turn into "no challenge to check".
    authenticator = SoftAuthenticator(ORIGIN)
    response = authenticator.create(
        json.dumps({"challenge": "", "rp": {"id": RP.id}, "user": {"id": b64url(USER_ID)}})
    )
    assert reason_of(lambda: verify_registration(RP, response, b"")) == "challenge"


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def test_a_tampered_signature_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    options, challenge = authentication_options(RP, [passkey.credential_id])
    tampered = edit_response(authenticator.get(options), "signature", flip_last_byte)
    assert (
        reason_of(lambda: verify_authentication(RP, tampered, challenge, passkey.public_key, 0))
        == "signature"
    )


def test_an_assertion_by_another_key_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    impostor = register(authenticator)
    options, challenge = authentication_options(RP, [impostor.credential_id])
    assertion = authenticator.get(options)
    assert (
        reason_of(lambda: verify_authentication(RP, assertion, challenge, passkey.public_key, 0))
        == "signature"
    )


def test_registration_without_user_verification_is_refused_unless_allowed() -> None:
    authenticator = SoftAuthenticator(ORIGIN, user_verified=False)
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice")
    response = authenticator.create(options)
    assert reason_of(lambda: verify_registration(RP, response, challenge)) == "user_verification"
    passkey = verify_registration(RP, response, challenge, require_user_verification=False)
    assert passkey.user_verified is False


def test_assertion_without_user_verification_is_refused_when_required() -> None:
    authenticator = SoftAuthenticator(ORIGIN, user_verified=False)
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice")
    passkey = verify_registration(
        RP, authenticator.create(options), challenge, require_user_verification=False
    )
    options, challenge = authentication_options(RP, [passkey.credential_id])
    assertion = authenticator.get(options)
    assert (
        reason_of(
            lambda: verify_authentication(
                RP, assertion, challenge, passkey.public_key, 0, require_user_verification=True
            )
        )
        == "user_verification"
    )
    verified = verify_authentication(RP, assertion, challenge, passkey.public_key, 0)
    assert verified.user_verified is False


def test_assertion_without_user_presence_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = register(authenticator)
    authenticator.user_present = False
    assert reason_of(lambda: authenticate(authenticator, passkey, 0)) == "user_verification"


def test_a_registration_response_is_not_an_assertion() -> None:
    valid = ceremonies()
    document = json.loads(valid.registration_json)
    document["response"]["authenticatorData"] = document["response"]["attestationObject"]
    document["response"]["signature"] = b64url(b"\x30\x00")
    assert reason_of(lambda: verify_reference_assertion(json.dumps(document))) == "malformed"


def test_a_corrupt_stored_key_is_reported_not_raised() -> None:
    valid = ceremonies()
    assert (
        reason_of(
            lambda: verify_authentication(
                RP, valid.assertion_json, valid.assertion_challenge, b"\xa1\x01\x02", 0
            )
        )
        == "malformed"
    )


# --- credential_id_of ------------------------------------------------------------------------


def test_credential_id_of_returns_the_raw_id() -> None:
    valid = ceremonies()
    assert credential_id_of(valid.assertion_json) == valid.passkey.credential_id


@pytest.mark.parametrize(
    "document",
    [
        {"id": "AAAA", "rawId": "AAAB"},  # id is not rawId
        {"id": "AAAA!", "rawId": "AAAA!"},  # outside the alphabet
        {"id": "AAF", "rawId": "AAF"},  # non-zero trailing bits: a second spelling of "AAE"
        {"id": "", "rawId": ""},  # empty credential id
        {"id": "AAAAA", "rawId": "AAAAA"},  # impossible length
        {"rawId": "AAAA"},
        {"id": 1, "rawId": 1},
        [],
    ],
)
def test_credential_id_of_refuses_anything_but_one_canonical_raw_id(document: object) -> None:
    assert reason_of(lambda: credential_id_of(json.dumps(document))) == "malformed"


def test_message_never_echoes_the_client() -> None:
    options, challenge = registration_options(RP, USER_ID, "alice", "Alice")
    response = SoftAuthenticator("https://evil.example<script>", rp_id=RP.id).create(options)
    with pytest.raises(PasskeyError) as caught:
        verify_registration(RP, response, challenge)
    assert "evil" not in str(caught.value)
    assert challenge.hex() not in str(caught.value)


# --- hostile input only ever raises PasskeyError ---------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
base64url_text = st.binary(max_size=80).map(b64url)
field_values = st.one_of(base64url_text, json_values, st.text(max_size=40))


@st.composite
def credential_shaped(draw: st.DrawFn) -> str:
    """Objects with the right member names and arbitrary values, to get past the first checks."""
    credential_id = draw(base64url_text)
    response_fields = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "clientDataJSON",
                    "attestationObject",
                    "authenticatorData",
                    "signature",
                    "userHandle",
                    "transports",
                ]
            ),
            field_values,
        )
    )
    return json.dumps(
        {
            "id": credential_id,
            "rawId": credential_id,
            "type": draw(st.sampled_from(["public-key", "secret-key"])),
            "response": response_fields,
            "authenticatorAttachment": draw(st.sampled_from(["platform", "usb", None])),
        }
    )


def outcome(call: Callable[[], object]) -> object:
    """The result or the PasskeyError; any other exception fails the property."""
    try:
        return call()
    except PasskeyError as error:
        return error


def each_verifier(text: str) -> None:
    outcome(lambda: credential_id_of(text))
    outcome(lambda: verify_reference_registration(text))
    outcome(lambda: verify_reference_assertion(text))


@fuzz
@given(st.text())
def test_arbitrary_text_raises_only_passkey_error(text: str) -> None:
    each_verifier(text)


@fuzz
@given(json_values)
def test_arbitrary_json_raises_only_passkey_error(value: object) -> None:
    each_verifier(json.dumps(value))


@fuzz
@given(credential_shaped())
def test_credential_shaped_json_raises_only_passkey_error(text: str) -> None:
    each_verifier(text)


@fuzz
@given(st.data())
def test_truncated_responses_raise_passkey_error(data: st.DataObject) -> None:
    valid = ceremonies()
    for text, verify in [
        (valid.registration_json, verify_reference_registration),
        (valid.assertion_json, verify_reference_assertion),
    ]:
        cut = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
        with pytest.raises(PasskeyError):
            verify(text[:cut])


ASSERTION_FIELDS = ["clientDataJSON", "authenticatorData", "signature"]
REGISTRATION_FIELDS = ["clientDataJSON", "attestationObject"]


@st.composite
def byte_edits(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    """A truncation, or a change of one byte, of a non-empty value."""
    # Positions are drawn before the value's length is known, and wrapped onto it.
    position = draw(st.integers(min_value=0, max_value=4096))
    if draw(st.booleans()):
        return lambda data: data[: position % len(data)]
    mask = draw(st.integers(min_value=1, max_value=255))

    def flip(data: bytes) -> bytes:
        at = position % len(data)
        return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]

    return flip


@fuzz
@given(st.sampled_from(ASSERTION_FIELDS), byte_edits())
def test_every_changed_byte_of_an_assertion_is_refused(
    field: str, edit: Callable[[bytes], bytes]
) -> None:
    # Everything in an assertion is signed, so no edit may verify.
    edited = edit_response(ceremonies().assertion_json, field, edit)
    with pytest.raises(PasskeyError):
        verify_reference_assertion(edited)


@fuzz
@given(st.sampled_from(REGISTRATION_FIELDS), byte_edits())
def test_changed_registration_bytes_raise_only_passkey_error(
    field: str, edit: Callable[[bytes], bytes]
) -> None:
    # "none" attestation signs nothing, so some edits (a different public key) still verify.
    edited = edit_response(ceremonies().registration_json, field, edit)
    result = outcome(lambda: verify_reference_registration(edited))
    assert isinstance(result, PasskeyError | RegisteredPasskey)


@fuzz
@given(st.binary(max_size=120))
def test_a_garbled_stored_key_raises_only_passkey_error(public_key: bytes) -> None:
    valid = ceremonies()
    with pytest.raises(PasskeyError):
        verify_authentication(RP, valid.assertion_json, valid.assertion_challenge, public_key, 0)


CLIENT_DATA_MEMBERS = ["type", "challenge", "origin", "crossOrigin", "topOrigin", "tokenBinding"]
token_bindings = st.fixed_dictionaries(
    {}, optional={"status": st.sampled_from(["present", "supported", "other"]), "id": json_values}
)


@fuzz
@given(
    st.dictionaries(st.sampled_from(CLIENT_DATA_MEMBERS), json_values | token_bindings, max_size=3),
    st.sampled_from(["registration", "assertion"]),
)
def test_arbitrary_client_data_raises_only_passkey_error(
    changes: dict[str, object], ceremony: str
) -> None:
    valid = ceremonies()
    response, verify = (
        (valid.registration_json, verify_reference_registration)
        if ceremony == "registration"
        else (valid.assertion_json, verify_reference_assertion)
    )

    def rebuild(client_data: bytes) -> bytes:
        return json.dumps({**json.loads(client_data), **changes}).encode()

    outcome(lambda: verify(edit_response(response, "clientDataJSON", rebuild)))


def test_an_unknown_token_binding_status_is_malformed_not_a_bad_signature() -> None:
    valid = ceremonies()

    def rebuild(client_data: bytes) -> bytes:
        return json.dumps({**json.loads(client_data), "tokenBinding": {"status": "x"}}).encode()

    edited = edit_response(valid.assertion_json, "clientDataJSON", rebuild)
    assert reason_of(lambda: verify_reference_assertion(edited)) == "malformed"


ATTESTATION_STATEMENT_MEMBERS = ["alg", "sig", "x5c", "ver", "certInfo", "pubArea", "response"]
cbor_leaves = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=64),
    st.text(max_size=12),
    st.lists(st.binary(max_size=64), max_size=2),
)


@fuzz
@given(
    fmt=st.one_of(
        st.sampled_from(["none", "packed", "tpm", "android-key", "android-safetynet", "apple"])
        | st.sampled_from(["fido-u2f", "x-unknown"]),
        cbor_leaves,
    ),
    statement=st.dictionaries(st.sampled_from(ATTESTATION_STATEMENT_MEMBERS), cbor_leaves),
    keep_auth_data=st.booleans(),
    random_auth_data=st.binary(max_size=200),
)
def test_arbitrary_attestation_statements_raise_only_passkey_error(
    fmt: object, statement: dict[str, object], keep_auth_data: bool, random_auth_data: bytes
) -> None:
    # Each format's verifier in py_webauthn is reached with statements it never expected.
    def rebuild(attestation_object: bytes) -> bytes:
        auth_data = cbor2.loads(attestation_object)["authData"] if keep_auth_data else b""
        return cbor2.dumps(
            {"fmt": fmt, "attStmt": statement, "authData": auth_data or random_auth_data}
        )

    edited = edit_response(ceremonies().registration_json, "attestationObject", rebuild)
    result = outcome(lambda: verify_reference_registration(edited))
    assert isinstance(result, PasskeyError | RegisteredPasskey)
