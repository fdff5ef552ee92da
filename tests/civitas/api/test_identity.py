"""IdentityService end to end: a `civitas serve` subprocess and gRPC clients, as a portal would."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from civitas.client import bearer
from civitas.soft_authenticator import SoftAuthenticator
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as pb
from tests.civitas.api.test_history import register, sign_in, wait_for
from tests.civitas.server_process import add_account, civitas, running_server, status_code
from tests.civitas.status_details import reason
from tests.identity.conftest import ORIGIN, RP, seed_of

PASSWORD = "a long and unusual passphrase"
NATIONAL_ID = "38001085718"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt_offline(token: str, jwks_json: str) -> dict[str, object]:
    """What a relying service does with the published JWKS alone (RFC 7515, RFC 8037)."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header["alg"] == "EdDSA"
    key = next(k for k in json.loads(jwks_json)["keys"] if k["kid"] == header["kid"])
    public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"]))
    public_key.verify(b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode())
    claims: dict[str, object] = json.loads(b64url_decode(payload_b64))
    return claims


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    agency_key = add_account(
        data_dir, database, "tax-portal", "agency:tax,registrar,relying-service"
    )
    admin_key = add_account(data_dir, database, "operator", "admin")
    args = ("--rp-id", RP.id, "--rp-origin", ORIGIN)
    with running_server(data_dir, database, *args) as (port, log_path):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield (
            identity_pb2_grpc.IdentityServiceStub(channel),
            agency_key,
            admin_key,
            tmp_path,
            log_path,
        )
        channel.close()


def test_full_citizen_journey_over_grpc(server) -> None:  # type: ignore[no-untyped-def]
    stub, agency, admin, tmp_path, log_path = server
    md = bearer(agency)
    citizen = stub.RegisterCitizen(
        pb.RegisterCitizenRequest(
            personal_data=pb.PersonalData(
                given_name="Jaan",
                family_name="Kask",
                birth_date="1980-01-08",
                national_identifier=NATIONAL_ID,
            ),
            assurance=pb.IAL2,
            evidence="ID card at counter",
        ),
        metadata=md,
    )
    cid = citizen.citizen_id
    assert (
        stub.FindCitizen(
            pb.FindCitizenRequest(national_identifier=NATIONAL_ID, purpose="tax assessment"),
            metadata=md,
        ).citizen_id
        == cid
    )

    # The citizen's first factor, with the activation code the registrar handed them.
    activation = pb.CitizenProof(activation_code=citizen.activation_code)
    stub.SetPassword(
        pb.SetPasswordRequest(citizen_id=cid, password=PASSWORD, proof=activation), metadata=md
    )
    # Each further one with a session of theirs: the password alone (AAL1) adds a passkey...
    aal1 = pb.CitizenProof(citizen_token=sign_in(stub, md, cid))
    soft = SoftAuthenticator(ORIGIN, RP.id)
    registration = stub.BeginPasskeyRegistration(
        pb.BeginPasskeyRegistrationRequest(citizen_id=cid, label="laptop", proof=aal1),
        metadata=md,
    )
    stub.CompletePasskeyRegistration(
        pb.CompletePasskeyRegistrationRequest(
            citizen_id=cid,
            registration_id=registration.registration_id,
            credential_json=soft.create(registration.options_json),
            proof=aal1,
        ),
        metadata=md,
    )
    # ...which reaches AAL2, so the next changes need a session at AAL2 or above (step-up).
    challenge = stub.BeginAuthentication(pb.BeginAuthenticationRequest(citizen_id=cid), metadata=md)
    stepped_up = stub.CompleteAuthentication(
        pb.CompleteAuthenticationRequest(
            attempt_id=challenge.attempt_id,
            passkey_assertion_json=soft.get(challenge.passkey_options_json),
        ),
        metadata=md,
    )
    strong = pb.CitizenProof(citizen_token=stepped_up.token)
    enrollment = stub.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(citizen_id=cid, label="phone", proof=strong), metadata=md
    )
    seed = seed_of(enrollment.provisioning_uri)
    app = pyotp.TOTP(seed)  # the citizen's authenticator app, independent of the server
    stub.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(
            citizen_id=cid,
            authenticator_id=enrollment.authenticator_id,
            code=app.now(),
            proof=strong,
        ),
        metadata=md,
    )
    codes = stub.IssueRecoveryCodes(
        pb.IssueRecoveryCodesRequest(citizen_id=cid, proof=strong), metadata=md
    ).codes
    assert len(codes) == 10

    # Password + TOTP: AAL2, a token verifiable offline with the JWKS.
    challenge = stub.BeginAuthentication(pb.BeginAuthenticationRequest(citizen_id=cid), metadata=md)
    assert set(challenge.available_methods) == {"password", "totp", "passkey", "recovery_codes"}
    result = stub.CompleteAuthentication(
        pb.CompleteAuthenticationRequest(
            # The enrolment spent this time step; the next step's code is within the window.
            attempt_id=challenge.attempt_id,
            password=PASSWORD,
            totp_code=app.at(time.time() + 30),
            client=pb.ClientContext(address="198.51.100.4", user_agent="Firefox/140"),
        ),
        metadata=md,
    )
    assert (result.acr, result.eidas_level) == ("AAL2", "substantial")
    assert citizen.eidas_level == "substantial"
    jwks = stub.GetJwks(pb.GetJwksRequest(), metadata=md).json
    claims = verify_jwt_offline(result.token, jwks)
    assert (claims["sub"], claims["sid"], claims["acr"]) == (cid, result.session_id, "AAL2")
    assert stub.IntrospectToken(pb.IntrospectTokenRequest(token=result.token), metadata=md).active

    # Passkey: user-verified and device-bound, but unattested (AAL3 is off by default anyway).
    challenge = stub.BeginAuthentication(pb.BeginAuthenticationRequest(citizen_id=cid), metadata=md)
    passkey = stub.CompleteAuthentication(
        pb.CompleteAuthenticationRequest(
            attempt_id=challenge.attempt_id,
            passkey_assertion_json=soft.get(challenge.passkey_options_json),
        ),
        metadata=md,
    )
    assert (passkey.acr, list(passkey.amr)) == ("AAL2", ["swk", "user", "pin", "mfa"])

    mine = pb.CitizenProof(citizen_token=result.token)
    sessions = stub.ListSessions(
        pb.ListSessionsRequest(citizen_id=cid, proof=mine), metadata=md
    ).sessions
    assert {result.session_id, passkey.session_id} <= {s.session_id for s in sessions}
    stub.RevokeSession(
        pb.RevokeSessionRequest(session_id=result.session_id, reason="logout"), metadata=md
    )
    revoked = stub.IntrospectToken(pb.IntrospectTokenRequest(token=result.token), metadata=md)
    assert (revoked.active, revoked.reason) == (False, "revoked")

    # Erasure is an admin's act, not an agency's.
    erase = pb.EraseCitizenRequest(citizen_id=cid, reason="GDPR art. 17")
    assert (
        status_code(lambda: stub.EraseCitizen(erase, metadata=md))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert stub.EraseCitizen(erase, metadata=bearer(admin)).erased
    assert stub.GetCitizen(
        pb.GetCitizenRequest(citizen_id=cid, purpose="audit"), metadata=md
    ).erased

    # The ledger still verifies, with the erased payloads reported as such.
    bundle = tmp_path / "bundle"
    civitas(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'civitas.sqlite'}",
        "export",
        "--out",
        str(bundle),
    )
    verified = subprocess.run(
        [sys.executable, "-m", "verifier", "bundle", str(bundle), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["erased"]

    # No plain secret anywhere: not in the database, not in the log.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("civitas.sqlite*"))
    logged = log_path.read_bytes()
    for secret in (PASSWORD, seed, NATIONAL_ID, "Kask", codes[0], citizen.activation_code):
        assert secret.encode() not in stored, secret
        assert secret.encode() not in logged, secret


BAD_REQUESTS: list[tuple[str, Callable[[str], object]]] = [
    ("RegisterCitizen", lambda cid: pb.RegisterCitizenRequest()),
    (
        "RegisterCitizen",
        lambda cid: pb.RegisterCitizenRequest(
            personal_data=pb.PersonalData(national_identifier="1" * 10_000), assurance=pb.IAL1
        ),
    ),
    (
        "RegisterCitizen",
        lambda cid: pb.RegisterCitizenRequest(
            personal_data=pb.PersonalData(national_identifier="x"),
            assurance=42,  # type: ignore[arg-type]  # an enum number no client should send
        ),
    ),
    ("GetCitizen", lambda cid: pb.GetCitizenRequest(citizen_id="not-a-uuid")),
    ("FindCitizen", lambda cid: pb.FindCitizenRequest()),
    ("GetCitizen", lambda cid: pb.GetCitizenRequest(citizen_id=cid)),  # no purpose stated
    ("SetPassword", lambda cid: pb.SetPasswordRequest(citizen_id=cid, password="short")),
    ("SetPassword", lambda cid: pb.SetPasswordRequest(citizen_id="", password=PASSWORD)),
    ("BeginTotpEnrollment", lambda cid: pb.BeginTotpEnrollmentRequest(citizen_id="x")),
    ("ConfirmTotpEnrollment", lambda cid: pb.ConfirmTotpEnrollmentRequest(citizen_id=cid)),
    ("BeginPasskeyRegistration", lambda cid: pb.BeginPasskeyRegistrationRequest(citizen_id="?")),
    (
        "CompletePasskeyRegistration",
        lambda cid: pb.CompletePasskeyRegistrationRequest(citizen_id=cid),
    ),
    ("IssueRecoveryCodes", lambda cid: pb.IssueRecoveryCodesRequest(citizen_id="")),
    ("RemoveAuthenticator", lambda cid: pb.RemoveAuthenticatorRequest(citizen_id=cid)),
    ("BeginAuthentication", lambda cid: pb.BeginAuthenticationRequest(citizen_id="nope")),
    (
        "CompleteAuthentication",
        lambda cid: pb.CompleteAuthenticationRequest(attempt_id="nope", password="x"),
    ),
    ("IntrospectToken", lambda cid: pb.IntrospectTokenRequest()),
    ("RefreshSession", lambda cid: pb.RefreshSessionRequest()),
    ("RefreshSession", lambda cid: pb.RefreshSessionRequest(token="x" * 9000)),
    ("RevokeSession", lambda cid: pb.RevokeSessionRequest(session_id="zzz")),
    ("ListSessions", lambda cid: pb.ListSessionsRequest()),
]


def test_bad_input_on_every_rpc_is_refused_and_writes_nothing(server) -> None:  # type: ignore[no-untyped-def]
    stub, agency, admin, tmp_path, _ = server
    md = bearer(agency)
    registered = stub.RegisterCitizen(
        pb.RegisterCitizenRequest(
            personal_data=pb.PersonalData(national_identifier="A1"), assurance=pb.IAL1
        ),
        metadata=md,
    )
    cid = registered.citizen_id
    activation = pb.CitizenProof(activation_code=registered.activation_code)
    database = tmp_path / "civitas.sqlite"

    def rows() -> int:
        import sqlite3

        with sqlite3.connect(database) as connection:
            count: int = connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
        return count

    registration = stub.BeginPasskeyRegistration(
        pb.BeginPasskeyRegistrationRequest(citizen_id=cid, proof=activation), metadata=md
    )
    before = rows()
    for malformed in ("{not json", '{"id": 5}', "[]", "x" * 70_000):
        request = pb.CompletePasskeyRegistrationRequest(
            citizen_id=cid,
            registration_id=registration.registration_id,
            credential_json=malformed,
            proof=activation,
        )
        code = status_code(stub.CompletePasskeyRegistration, request, metadata=md)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    for method, make in BAD_REQUESTS:
        bad: Any = make(cid)
        if "proof" in bad.DESCRIPTOR.fields_by_name:
            bad.proof.CopyFrom(activation)  # a proof, so that the field checks are reached
        code = status_code(getattr(stub, method), bad, metadata=md)
        assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), (method, code)
    for method in ("UnlockFactor", "EraseCitizen"):
        request = getattr(pb, f"{method}Request")(citizen_id="not-a-uuid")
        code = status_code(getattr(stub, method), request, metadata=bearer(admin))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert rows() == before


ISSUER = "https://id.civitas.example"
AUDIENCE = "https://portal.civitas.example"


def test_refresh_session_over_grpc_with_a_configured_issuer_and_audience(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    agency = bearer(
        add_account(data_dir, database, "tax-portal", "agency:tax,registrar,relying-service")
    )
    admin = bearer(add_account(data_dir, database, "operator", "admin"))
    args = ("--token-issuer", ISSUER, "--token-audience", AUDIENCE)
    with running_server(data_dir, database, *args) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        citizen = register(stub, agency, "R-1")
        challenge = stub.BeginAuthentication(
            pb.BeginAuthenticationRequest(citizen_id=citizen), metadata=agency
        )
        assert challenge.expires_at.ToDatetime(UTC) > datetime.now(UTC)
        first = stub.CompleteAuthentication(
            pb.CompleteAuthenticationRequest(attempt_id=challenge.attempt_id, password=PASSWORD),
            metadata=agency,
        )
        jwks = stub.GetJwks(pb.GetJwksRequest(), metadata=agency).json
        claims = verify_jwt_offline(first.token, jwks)
        assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
        assert first.expires_at.seconds == claims["exp"]  # the Timestamp says what exp says

        client = pb.ClientContext(address="198.51.100.4", user_agent="portal/2.0")
        refresh = pb.RefreshSessionRequest(token=first.token, client=client)
        # The relying service refreshes; the citizen cannot with their own token.
        assert (
            status_code(stub.RefreshSession, refresh, metadata=bearer(first.token))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        second = stub.RefreshSession(refresh, metadata=agency)
        renewed = verify_jwt_offline(second.token, jwks)
        assert renewed["sid"] == claims["sid"] == second.session_id == first.session_id
        assert renewed["jti"] != claims["jti"]
        assert (renewed["iss"], renewed["aud"], second.acr) == (ISSUER, AUDIENCE, "AAL1")
        assert second.expires_at.seconds == renewed["exp"]

        # The replaced token: inactive with a reason, refused on the citizen's own calls.
        old = stub.IntrospectToken(pb.IntrospectTokenRequest(token=first.token), metadata=agency)
        assert (old.active, old.reason, old.session_id) == (False, "rotated", "")
        assert not old.HasField("expires_at")
        new = stub.IntrospectToken(pb.IntrospectTokenRequest(token=second.token), metadata=agency)
        assert (new.active, new.citizen_id, new.expires_at) == (True, citizen, second.expires_at)
        mine = hpb.ListMyHistoryRequest()
        assert (
            status_code(history.ListMyHistory, mine, metadata=bearer(first.token))
            == grpc.StatusCode.UNAUTHENTICATED
        )
        assert history.ListMyHistory(mine, metadata=bearer(second.token)) is not None

        # The old token again: theft or a confused client; the session ends for both.
        with pytest.raises(grpc.RpcError) as reused:
            stub.RefreshSession(refresh, metadata=agency)
        assert reused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason(reused.value) == "TOKEN_ROTATED"
        with pytest.raises(grpc.RpcError) as revoked:
            stub.RefreshSession(pb.RefreshSessionRequest(token=second.token), metadata=agency)
        assert reason(revoked.value) == "SESSION_REVOKED"
        # ListSessions shows active sessions only: the revoked one is gone from it.
        listed = stub.ListSessions(pb.ListSessionsRequest(citizen_id=citizen), metadata=admin)
        assert list(listed.sessions) == []
        session = stub.RevokeSession(  # the service that opened it may end it (again)
            pb.RevokeSessionRequest(session_id=second.session_id, reason="again"), metadata=agency
        )
        assert session.revoked
        assert session.started_at.ToNanoseconds() < session.idle_expires_at.ToNanoseconds()
        assert session.idle_expires_at.ToNanoseconds() <= session.expires_at.ToNanoseconds()
        with pytest.raises(grpc.RpcError) as garbage:
            stub.RefreshSession(pb.RefreshSessionRequest(token="a.b.c"), metadata=agency)
        assert reason(garbage.value) == "INVALID_TOKEN"

        # The citizen's history shows the refresh and the revocation (a security event of its
        # own kind since issue 13), like other session events.
        fresh = bearer(sign_in(stub, agency, citizen))
        sessions = hpb.ListMyHistoryRequest(kinds=["session", "session_revoked"])

        def changes() -> list[str] | None:
            items = history.ListMyHistory(sessions, metadata=fresh).items
            found = [json.loads(i.summary_json).get("change", "started") for i in items]
            return found if len(found) >= 4 else None

        assert wait_for(changes) == ["started", "refreshed", "revoked", "started"]
        channel.close()
