"""Assurance that is earned, over gRPC against `civitas serve` (issue 13): an attested passkey of
an allow-listed model reaches AAL3, an unattested one AAL2; a relying service's minimum level is
enforced; a passkey signs in without a citizen id; names and labels are the ones chosen."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2

from civitas.client import bearer
from civitas.soft_authenticator import AttestationModel, SoftAuthenticator, new_attestation_model
from protos.civitas.v1 import identity_pb2 as pb
from protos.civitas.v1 import identity_pb2_grpc
from tests.civitas.api.test_history import PASSWORD
from tests.civitas.server_process import add_account, civitas, running_server
from tests.civitas.status_details import detail, reason
from tests.identity.conftest import ORIGIN, RP

Stub = identity_pb2_grpc.IdentityServiceStub
Metadata = list[tuple[str, str]]


@pytest.fixture(scope="module")
def model() -> AttestationModel:
    return new_attestation_model(name="Listed")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, model: AttestationModel
) -> Iterator[tuple[Stub, Metadata]]:
    tmp_path = tmp_path_factory.mktemp("assurance")
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    roots = tmp_path / "attestation-roots.json"
    roots.write_text(json.dumps({"entries": [model.trust_list_entry("Listed key")]}))
    civitas(data_dir, database, "init")
    key = add_account(data_dir, database, "portal", "agency:tax")
    args = ("--rp-id", RP.id, "--rp-origin", ORIGIN, "--allow-aal3", "--attestation-roots")
    with running_server(data_dir, database, *args, str(roots)) as (port, _log):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield identity_pb2_grpc.IdentityServiceStub(channel), bearer(key)
        channel.close()


def new_citizen(stub: Stub, md: Metadata, national_id: str) -> str:
    citizen = stub.RegisterCitizen(
        pb.RegisterCitizenRequest(
            personal_data=pb.PersonalData(
                given_name="Mari",
                family_name="Maasikas",
                email="mari@example.org",
                national_identifier=national_id,
            ),
            assurance=pb.IAL2,
        ),
        metadata=md,
    ).citizen_id
    stub.SetPassword(pb.SetPasswordRequest(citizen_id=citizen, password=PASSWORD), metadata=md)
    return str(citizen)


def enrol(
    stub: Stub, md: Metadata, citizen: str, authenticator: SoftAuthenticator, **names: str
) -> dict[str, object]:
    registration = stub.BeginPasskeyRegistration(
        pb.BeginPasskeyRegistrationRequest(citizen_id=citizen, **names), metadata=md
    )
    stub.CompletePasskeyRegistration(
        pb.CompletePasskeyRegistrationRequest(
            citizen_id=citizen,
            registration_id=registration.registration_id,
            credential_json=authenticator.create(registration.options_json),
        ),
        metadata=md,
    )
    return dict(json.loads(registration.options_json))


def passkey_sign_in(
    stub: Stub, md: Metadata, authenticator: SoftAuthenticator, citizen: str = "", **asked: object
) -> pb.AuthenticationResult:
    challenge = stub.BeginAuthentication(
        pb.BeginAuthenticationRequest(citizen_id=citizen, **asked),  # type: ignore[arg-type]
        metadata=md,
    )
    result: pb.AuthenticationResult = stub.CompleteAuthentication(
        pb.CompleteAuthenticationRequest(
            attempt_id=challenge.attempt_id,
            passkey_assertion_json=authenticator.get(challenge.passkey_options_json),
        ),
        metadata=md,
    )
    return result


def test_only_an_attested_passkey_of_a_listed_model_reaches_aal3(
    served: tuple[Stub, Metadata], model: AttestationModel
) -> None:
    stub, md = served
    citizen = new_citizen(stub, md, "49001010001")
    attested = SoftAuthenticator(ORIGIN, RP.id, attestation=model.key)
    options = enrol(stub, md, citizen, attested, label="Listed key")
    assert options["attestation"] == "direct"
    result = passkey_sign_in(stub, md, attested, citizen, required_acr="AAL3")
    assert (result.acr, result.eidas_level) == ("AAL3", "high")
    assert list(result.amr) == ["hwk", "user", "pin", "mfa"]

    unattested = SoftAuthenticator(ORIGIN, RP.id)  # BE=0, "none": Chromium's virtual authenticator
    enrol(stub, md, citizen, unattested)
    result = passkey_sign_in(stub, md, unattested, citizen)
    assert (result.acr, list(result.amr)) == ("AAL2", ["swk", "user", "pin", "mfa"])
    stranger = SoftAuthenticator(ORIGIN, RP.id, attestation=new_attestation_model().key)
    enrol(stub, md, citizen, stranger)
    assert passkey_sign_in(stub, md, stranger, citizen).acr == "AAL2"


def test_a_sign_in_below_the_required_level_is_refused(served: tuple[Stub, Metadata]) -> None:
    stub, md = served
    citizen = new_citizen(stub, md, "49001010002")
    unattested = SoftAuthenticator(ORIGIN, RP.id)
    enrol(stub, md, citizen, unattested)
    with pytest.raises(grpc.RpcError) as raised:
        passkey_sign_in(stub, md, unattested, citizen, required_acr="AAL3")
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason(raised.value) == "ASSURANCE_TOO_LOW"
    info = detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None
    assert dict(info.metadata) == {"acr": "AAL2", "required_acr": "AAL3"}

    challenge = stub.BeginAuthentication(
        pb.BeginAuthenticationRequest(citizen_id=citizen, required_acr="AAL2"), metadata=md
    )
    assert json.loads(challenge.passkey_options_json)["userVerification"] == "required"
    with pytest.raises(grpc.RpcError) as raised:
        stub.CompleteAuthentication(
            pb.CompleteAuthenticationRequest(attempt_id=challenge.attempt_id, password=PASSWORD),
            metadata=md,
        )
    assert reason(raised.value) == "ASSURANCE_TOO_LOW"

    with pytest.raises(grpc.RpcError) as raised:
        stub.BeginAuthentication(
            pb.BeginAuthenticationRequest(citizen_id=citizen, required_acr="high"), metadata=md
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_username_less_sign_in_and_human_readable_names(served: tuple[Stub, Metadata]) -> None:
    stub, md = served
    citizen = new_citizen(stub, md, "49001010003")
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    options = enrol(stub, md, citizen, authenticator, label="Work laptop", account_name="mari.m")
    assert options["user"] == {
        "id": options["user"]["id"],  # type: ignore[index]
        "name": "mari.m",
        "displayName": "Mari Maasikas",
    }
    assert citizen not in json.dumps(options)
    result = passkey_sign_in(stub, md, authenticator)  # no citizen id
    introspection = stub.IntrospectToken(pb.IntrospectTokenRequest(token=result.token), metadata=md)
    assert introspection.citizen_id == citizen

    totp = stub.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(citizen_id=citizen, label="phone"), metadata=md
    )
    assert totp.provisioning_uri.startswith("otpauth://totp/civitas:mari%40example.org?")
    shown = stub.GetCitizen(pb.GetCitizenRequest(citizen_id=citizen, purpose="test"), metadata=md)
    assert sorted(a.label for a in shown.authenticators) == ["Work laptop", "password"]

    stranger = SoftAuthenticator(ORIGIN, RP.id)
    enrol(stub, md, new_citizen(stub, md, "49001010004"), stranger)
    stranger.credentials = {
        credential_id: type(credential)(credential.private_key, credential.rp_id, b"\x01" * 32)
        for credential_id, credential in stranger.credentials.items()
    }  # the same key, now claiming a user handle nobody has
    with pytest.raises(grpc.RpcError) as raised:
        passkey_sign_in(stub, md, stranger)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason(raised.value) == "PASSKEY_UNKNOWN_CREDENTIAL"
