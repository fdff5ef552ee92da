"""Issue 13, who may do what, over real gRPC: each attack of the issue, refused, and the
citizen's own paths (activation code, their token with step-up, admin recovery) end to end.

One in-process server per test, on SQLite and on PostgreSQL (CIVITAS_TEST_POSTGRES). The
node's clock is the test's and stands still unless moved, so an activation code expires and a
recovery's waiting period passes without sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from civitas.client import CivitasClient, activation, bearer, citizen_token
from civitas.node import Node
from civitas.server import build_server
from civitas.soft_authenticator import SoftAuthenticator
from identity.activation import normalised
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from tests.civitas.status_details import detail, reason
from tests.civitas.test_errors import StoppedClock
from tests.conftest import ready_node
from tests.identity.conftest import code_at, seed_of

PASSWORD = "a long and unusual passphrase"
NEW_PASSWORD = "another long and unusual passphrase"
ORIGIN = "https://localhost"
Code = grpc.StatusCode


@dataclass
class Server:
    node: Node
    channel: grpc.Channel
    clock: StoppedClock
    keys: dict[str, str]

    def client(self, account: str) -> CivitasClient:
        return CivitasClient(self.channel, self.keys[account])

    @property
    def identity(self) -> Any:
        return identity_pb2_grpc.IdentityServiceStub(self.channel)

    def refusal(self, method: Any, request: Message, account: str) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as raised:
            method(request, metadata=bearer(self.keys[account]), timeout=30)
        return raised.value

    def written(self) -> int:
        """How many entries the ledger holds: unchanged by a refusal."""
        return self.node.store.recorder.max_notification_id() or 0

    def history(self, token: str, kinds: tuple[str, ...] = ()) -> list[hpb.HistoryItem]:
        target = self.written()
        timeline = next(s for s in self.node.projections() if s.name == "timeline")
        assert timeline.catch_up(target, 30)
        stub = history_pb2_grpc.HistoryServiceStub(self.channel)
        request = hpb.ListMyHistoryRequest(kinds=list(kinds), page_size=500)
        return list(stub.ListMyHistory(request, metadata=bearer(token), timeout=30).items)

    def register(self, national_identifier: str, registrar: str = "building") -> ipb.Citizen:
        return self.client(registrar).register({"national_identifier": national_identifier})

    def with_password(self, national_identifier: str) -> tuple[str, str]:
        """A citizen who set their password with their activation code: (id, AAL1 token)."""
        citizen = self.register(national_identifier)
        portal = self.client("building")
        portal.set_password(citizen.citizen_id, PASSWORD, proof=activation(citizen.activation_code))
        token = portal.authenticate_password(citizen.citizen_id, PASSWORD).token
        return citizen.citizen_id, token


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    clock = StoppedClock()
    node = ready_node(tmp_path / "data", database_url, "civitas.test/authority", clock)
    accounts = {
        "building": "agency:building,registrar,relying-service",
        "tax": "agency:tax,relying-service",
        "tax-registrar": "agency:tax,registrar",
        "operator": "admin",
    }
    keys = {
        name: node.accounts.create(name, role, actor="service:test").api_key
        for name, role in accounts.items()
    }
    grpc_server, _ = build_server(node)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Server(node, channel, clock, keys)
    finally:
        channel.close()
        grpc_server.stop(grace=None)
        node.close()


def refused_as(error: grpc.RpcError, code: grpc.StatusCode, expected_reason: str) -> None:
    assert isinstance(error, grpc.Call)
    assert (error.code(), reason(error)) == (code, expected_reason), error.details()


def authenticator_changes(
    citizen_id: str, proof: ipb.CitizenProof | None
) -> list[tuple[str, Message]]:
    """Every RPC that changes a citizen's authenticators, each with the given proof."""
    fields: dict[str, Any] = {"citizen_id": citizen_id}
    if proof is not None:
        fields["proof"] = proof
    return [
        ("SetPassword", ipb.SetPasswordRequest(password=PASSWORD, **fields)),
        ("BeginTotpEnrollment", ipb.BeginTotpEnrollmentRequest(label="attacker", **fields)),
        (
            "ConfirmTotpEnrollment",
            ipb.ConfirmTotpEnrollmentRequest(authenticator_id="x", code="123456", **fields),
        ),
        ("BeginPasskeyRegistration", ipb.BeginPasskeyRegistrationRequest(**fields)),
        (
            "CompletePasskeyRegistration",
            ipb.CompletePasskeyRegistrationRequest(
                registration_id="x", credential_json="{}", **fields
            ),
        ),
        ("IssueRecoveryCodes", ipb.IssueRecoveryCodesRequest(**fields)),
        ("RemoveAuthenticator", ipb.RemoveAuthenticatorRequest(authenticator_id="x", **fields)),
    ]


def authenticators_of(server: Server, citizen_id: str) -> list[str]:
    citizen = server.identity.GetCitizen(
        ipb.GetCitizenRequest(citizen_id=citizen_id, purpose="test: what is enrolled"),
        metadata=bearer(server.keys["building"]),
    )
    return sorted(a.method for a in citizen.authenticators)


# --- the attacks ---------------------------------------------------------------------------


def test_an_agency_cannot_change_the_authenticators_of_a_citizen_another_registered(
    server: Server,
) -> None:
    """The issue's attack: `tax-portal` sets a password on a citizen `building` registered."""
    citizen = server.register("AU-TAKEOVER")
    before = server.written()
    for method, request in authenticator_changes(citizen.citizen_id, None):
        refused = server.refusal(getattr(server.identity, method), request, "tax")
        refused_as(refused, Code.PERMISSION_DENIED, "CITIZEN_PROOF_REQUIRED")
    # Nor may it proof, find or read citizens: that is the registrar's capability.
    find = ipb.FindCitizenRequest(national_identifier="AU-TAKEOVER", purpose="curiosity")
    refused_as(
        server.refusal(server.identity.FindCitizen, find, "tax"),
        Code.PERMISSION_DENIED,
        "ROLE_NOT_ALLOWED",
    )
    assert server.written() == before, "a refused change wrote something"
    assert authenticators_of(server, citizen.citizen_id) == []


def test_a_registrar_without_the_citizens_proof_is_refused_too(server: Server) -> None:
    citizen = server.register("AU-REGISTRAR")
    other_id, other_token = server.with_password("AU-OTHER")
    before = server.written()
    wrong_code = activation("ABCD-EFGH-JKLM-NPQR-STUV")
    for proof, expected in [
        (None, "CITIZEN_PROOF_REQUIRED"),
        (wrong_code, "ACTIVATION_CODE_INVALID"),
        (citizen_token(other_token), "CITIZEN_TOKEN_REFUSED"),  # another citizen's session
    ]:
        for method, request in authenticator_changes(citizen.citizen_id, proof):
            refused = server.refusal(getattr(server.identity, method), request, "building")
            assert isinstance(refused, grpc.Call)
            assert refused.code() == Code.PERMISSION_DENIED, (method, proof)
            assert reason(refused) == expected, (method, refused.details())
    assert server.written() == before
    assert authenticators_of(server, citizen.citizen_id) == []
    # An admin may not change authenticators at all: recovery is its path.
    request = ipb.SetPasswordRequest(citizen_id=other_id, password=NEW_PASSWORD)
    refused_as(
        server.refusal(server.identity.SetPassword, request, "operator"),
        Code.PERMISSION_DENIED,
        "ROLE_NOT_ALLOWED",
    )


def test_a_relying_service_cannot_use_a_token_of_lower_assurance_once_the_citizen_has_aal2(
    server: Server,
) -> None:
    citizen_id, aal1_token = server.with_password("AU-STEP-UP")
    portal = server.client("tax")  # any relying service may relay the citizen's own token
    app = portal.enrol_totp(citizen_id, "phone", proof=citizen_token(aal1_token))
    # Password and TOTP reach AAL2: a change now needs a session at AAL2 (step-up).
    before = server.written()
    with pytest.raises(grpc.RpcError) as raised:
        portal.issue_recovery_codes(citizen_id, proof=citizen_token(aal1_token))
    refused_as(raised.value, Code.PERMISSION_DENIED, "STEP_UP_REQUIRED")
    info = detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None
    assert info.metadata["required_acr"] == "AAL2"
    assert server.written() == before

    server.clock.advance(seconds=60)  # past the step the enrolment spent
    aal2 = portal.complete_authentication(
        portal.begin_authentication(citizen_id).attempt_id,
        password=PASSWORD,
        totp_code=code_at(seed_of(app.provisioning_uri), server.clock.now),
    )
    assert aal2.acr == "AAL2"
    assert len(portal.issue_recovery_codes(citizen_id, proof=citizen_token(aal2.token))) == 10
    password = next(
        a
        for a in server.identity.GetCitizen(
            ipb.GetCitizenRequest(citizen_id=citizen_id, purpose="test"),
            metadata=bearer(server.keys["building"]),
        ).authenticators
        if a.method == "password"
    )
    portal.remove_authenticator(
        citizen_id, password.authenticator_id, proof=citizen_token(aal2.token)
    )
    assert authenticators_of(server, citizen_id) == ["recovery_codes", "totp"]


# --- the activation code -------------------------------------------------------------------


def test_the_activation_code_sets_up_one_authenticator_once_and_is_never_stored(
    server: Server,
) -> None:
    citizen = server.register("AU-ACTIVATE")
    code = citizen.activation_code
    assert code
    assert citizen.HasField("activation_expires_at")
    expires = citizen.activation_expires_at.ToDatetime(tzinfo=UTC)
    assert expires == server.clock.now + timedelta(days=30)
    counter = server.client("tax-registrar")  # a registrar's counter relays it, too
    counter.set_password(citizen.citizen_id, PASSWORD, proof=activation(code.lower()))
    with pytest.raises(grpc.RpcError) as again:
        counter.set_password(citizen.citizen_id, NEW_PASSWORD, proof=activation(code))
    refused_as(again.value, Code.PERMISSION_DENIED, "ACTIVATION_CODE_INVALID")
    assert authenticators_of(server, citizen.citizen_id) == ["password"]

    # Neither the code nor its plain form is anywhere in the ledger.
    stored = b"".join(
        bytes(record.state)
        for record in server.node.store.recorder.select_notifications(start=1, limit=10_000)
    )
    for form in (code, normalised(code)):
        assert form.encode() not in stored

    token = server.client("building").authenticate_password(citizen.citizen_id, PASSWORD).token
    activation_items = server.history(token, ("activation",))
    assert [json.loads(i.summary_json)["change"] for i in activation_items] == [
        "activation code issued",
        "activation code used",
    ]
    assert json.loads(activation_items[1].summary_json)["used_for"] == "password"
    assert json.loads(activation_items[1].summary_json)["by"] == "service:tax-registrar"


def test_an_expired_activation_code_is_refused(server: Server) -> None:
    citizen = server.register("AU-EXPIRED")
    server.clock.advance(days=30)
    before = server.written()
    with pytest.raises(grpc.RpcError) as raised:
        server.client("building").set_password(
            citizen.citizen_id, PASSWORD, proof=activation(citizen.activation_code)
        )
    refused_as(raised.value, Code.PERMISSION_DENIED, "ACTIVATION_CODE_EXPIRED")
    assert server.written() == before


def test_a_two_step_enrolment_presents_the_code_twice_and_spends_it_once(server: Server) -> None:
    citizen = server.register("AU-TWO-STEP")
    portal, proof = server.client("building"), activation(citizen.activation_code)
    soft = SoftAuthenticator(ORIGIN, "localhost")
    portal.enrol_passkey(citizen.citizen_id, soft, "laptop", proof=proof)
    with pytest.raises(grpc.RpcError) as raised:
        portal.begin_totp_enrolment(citizen.citizen_id, "phone", proof=proof)
    refused_as(raised.value, Code.PERMISSION_DENIED, "ACTIVATION_CODE_INVALID")
    assert authenticators_of(server, citizen.citizen_id) == ["passkey"]


# --- admin recovery ------------------------------------------------------------------------


def test_recovery_waits_then_replaces_every_factor_and_ends_every_session(
    server: Server,
) -> None:
    citizen_id, token = server.with_password("AU-RECOVER")
    admin, portal = server.client("operator"), server.client("building")
    start = ipb.StartRecoveryRequest(citizen_id=citizen_id, reason="lost phone and password")
    refused_as(
        server.refusal(server.identity.StartRecovery, start, "building"),
        Code.PERMISSION_DENIED,
        "ROLE_NOT_ALLOWED",
    )
    with pytest.raises(grpc.RpcError) as no_evidence:
        server.identity.StartRecovery(start, metadata=bearer(server.keys["operator"]))
    refused_as(no_evidence.value, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")

    started = admin.start_recovery(
        citizen_id, "lost phone and password", "counter visit 2026-114, passport checked"
    )
    assert started.status == "pending"
    assert started.effective_at.ToDatetime(tzinfo=UTC) == server.clock.now + timedelta(hours=24)
    # What the citizen reported and the proofing record are sealed with the citizen's key.
    stored = b"".join(
        bytes(record.state)
        for record in server.node.store.recorder.select_notifications(start=1, limit=10_000)
    )
    assert b"lost phone and password" not in stored
    assert b"counter visit 2026-114" not in stored
    with pytest.raises(grpc.RpcError) as waiting:
        admin.complete_recovery(citizen_id)
    refused_as(waiting.value, Code.FAILED_PRECONDITION, "RECOVERY_WAITING")
    retry = detail(waiting.value, error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToTimedelta() == timedelta(hours=24)
    assert portal.introspect(token).active, "the waiting period ends nothing"

    # Sessions last 12 hours at most: one begun near the end of the wait is still going.
    server.clock.advance(hours=23, minutes=50)
    late = portal.authenticate_password(citizen_id, PASSWORD).token
    server.clock.advance(minutes=10)
    completed = admin.complete_recovery(citizen_id)
    assert (completed.status, bool(completed.activation_code)) == ("completed", True)
    assert not portal.introspect(late).active, "every session ends"
    assert portal.introspect(late).reason == "revoked"
    assert authenticators_of(server, citizen_id) == []
    with pytest.raises(grpc.RpcError) as no_factor:
        portal.begin_authentication(citizen_id)
    refused_as(no_factor.value, Code.FAILED_PRECONDITION, "NO_AUTHENTICATOR")

    portal.set_password(citizen_id, NEW_PASSWORD, proof=activation(completed.activation_code))
    fresh = portal.authenticate_password(citizen_id, NEW_PASSWORD).token
    kinds = [item.kind for item in server.history(fresh)]
    for kind in ("recovery_started", "recovery_completed", "session_revoked", "activation"):
        assert kind in kinds, kind
    assert kinds.index("recovery_started") < kinds.index("recovery_completed")
    started_item = next(i for i in server.history(fresh, ("recovery_started",)))
    summary = json.loads(started_item.summary_json)
    assert summary["reason"] == "lost phone and password"
    assert summary["evidence_reference"] == "counter visit 2026-114, passport checked"
    assert summary["by"] == "service:operator"


def test_any_session_of_the_citizen_cancels_a_recovery(server: Server) -> None:
    citizen_id, token = server.with_password("AU-CANCEL")
    admin, portal = server.client("operator"), server.client("tax")
    admin.start_recovery(citizen_id, "someone called claiming to be them", "call 2026-7")
    # The citizen sees it in their history while it waits...
    assert [i.kind for i in server.history(token, ("recovery_started",))] == ["recovery_started"]
    # ...and a relying service without their token cannot cancel it for them.
    cancel = ipb.CancelRecoveryRequest(citizen_id=citizen_id, reason="not me")
    refused_as(
        server.refusal(server.identity.CancelRecovery, cancel, "tax"),
        Code.PERMISSION_DENIED,
        "CITIZEN_PROOF_REQUIRED",
    )
    cancelled = portal.cancel_recovery(citizen_id, "not me", proof=citizen_token(token))
    assert cancelled.status == "cancelled"
    server.clock.advance(hours=25)
    with pytest.raises(grpc.RpcError) as nothing:
        admin.complete_recovery(citizen_id)
    refused_as(nothing.value, Code.FAILED_PRECONDITION, "NO_RECOVERY_PENDING")
    assert authenticators_of(server, citizen_id) == ["password"]

    # The citizen may cancel with their own token as the bearer, too.
    token = server.client("building").authenticate_password(citizen_id, PASSWORD).token
    admin.start_recovery(citizen_id, "again", "call 2026-8")
    server.identity.CancelRecovery(
        ipb.CancelRecoveryRequest(citizen_id=citizen_id, reason="still not me"),
        metadata=bearer(token),
    )
    cancellations = server.history(token, ("recovery_cancelled",))
    assert [json.loads(i.summary_json)["cancelled_by"] for i in cancellations] == [
        "citizen",
        "citizen",
    ]


# --- sessions: only the citizen, the service that opened one, or an admin ------------------


def test_another_relying_service_can_neither_list_nor_revoke_a_citizens_sessions(
    server: Server,
) -> None:
    """A relying service that never signed the citizen in (`tax`) lists every session of a
    citizen `building` signed in, and signs them out: refused, and nothing is written."""
    citizen_id, token = server.with_password("AU-SESSIONS")
    stranger_id = "00000000-0000-4000-8000-000000000000"
    before = server.written()
    for citizen in (citizen_id, stranger_id):  # and no existence oracle for citizen ids
        refused_as(
            server.refusal(
                server.identity.ListSessions, ipb.ListSessionsRequest(citizen_id=citizen), "tax"
            ),
            Code.PERMISSION_DENIED,
            "CITIZEN_PROOF_REQUIRED",
        )
    session_id = server.client("building").introspect(token).session_id
    revoke = ipb.RevokeSessionRequest(session_id=session_id, reason="not yours")
    refused_as(
        server.refusal(server.identity.RevokeSession, revoke, "tax"),
        Code.PERMISSION_DENIED,
        "SESSION_OF_ANOTHER_SERVICE",
    )
    # Nor with another citizen's token, nor (listing) as the service that opened the session.
    _, other_token = server.with_password("AU-SESSIONS-OTHER")
    before = server.written()
    list_as_other = ipb.ListSessionsRequest(citizen_id=citizen_id, proof=citizen_token(other_token))
    revoke_as_other = ipb.RevokeSessionRequest(
        session_id=session_id, reason="not yours", proof=citizen_token(other_token)
    )
    for method, request in [("ListSessions", list_as_other), ("RevokeSession", revoke_as_other)]:
        refused = server.refusal(getattr(server.identity, method), request, "tax")
        refused_as(refused, Code.PERMISSION_DENIED, "CITIZEN_TOKEN_REFUSED")
    refused_as(
        server.refusal(
            server.identity.ListSessions, ipb.ListSessionsRequest(citizen_id=citizen_id), "building"
        ),
        Code.PERMISSION_DENIED,
        "CITIZEN_PROOF_REQUIRED",
    )
    assert server.written() == before, "a refused call wrote something"
    assert server.client("building").introspect(token).active


def test_the_citizen_the_opening_service_or_an_admin_lists_and_ends_sessions(
    server: Server,
) -> None:
    citizen_id, first = server.with_password("AU-SIGN-OUT")
    portal = server.client("building")
    second, third = (portal.authenticate_password(citizen_id, PASSWORD).token for _ in range(2))
    sessions = {portal.introspect(t).session_id: t for t in (first, second, third)}

    def listed(account: str, proof: ipb.CitizenProof | None = None) -> set[str]:
        request = ipb.ListSessionsRequest(citizen_id=citizen_id, proof=proof)
        reply = server.identity.ListSessions(request, metadata=bearer(server.keys[account]))
        return {s.session_id for s in reply.sessions if not s.revoked}

    # Another relying service, relaying the citizen's token, and an admin, relaying nothing.
    assert listed("tax", citizen_token(first)) == set(sessions) == listed("operator")

    def revoke(account: str, token: str, proof: ipb.CitizenProof | None = None) -> None:
        session_id = portal.introspect(token).session_id
        request = ipb.RevokeSessionRequest(session_id=session_id, reason="logout", proof=proof)
        server.identity.RevokeSession(request, metadata=bearer(server.keys[account]), timeout=30)
        assert not portal.introspect(token).active

    revoke("building", first)  # the service that opened it signs the citizen out
    revoke("tax", second, citizen_token(third))  # the citizen, from another service
    revoke("operator", third)  # an admin
    assert listed("operator") == set()


# --- history and lookups -------------------------------------------------------------------


def test_lock_and_unlock_are_security_events_in_the_history(server: Server) -> None:
    citizen_id, _ = server.with_password("AU-LOCK")
    portal = server.client("building")
    for _ in range(10):  # the configuration's lock_after
        server.clock.advance(minutes=30)  # past each throttle: every failure counts
        attempt = portal.begin_authentication(citizen_id).attempt_id
        with pytest.raises(grpc.RpcError):
            portal.complete_authentication(attempt, password="not the passphrase at all")
    server.identity.UnlockFactor(
        ipb.UnlockFactorRequest(citizen_id=citizen_id, method="password", reason="counter"),
        metadata=bearer(server.keys["operator"]),
    )
    token = portal.authenticate_password(citizen_id, PASSWORD).token
    kinds = [item.kind for item in server.history(token)]
    assert kinds.count("factor_locked") == 1
    assert kinds.index("factor_locked") < kinds.index("factor_unlocked")
    assert "factor_added" in kinds


def test_find_and_get_citizen_check_the_purpose_first_and_record_misses(server: Server) -> None:
    citizen_id, token = server.with_password("AU-FIND")
    before = server.written()
    missing_purpose: list[tuple[Callable[..., Any], Message]] = [
        (server.identity.FindCitizen, ipb.FindCitizenRequest(national_identifier="AU-FIND")),
        (server.identity.FindCitizen, ipb.FindCitizenRequest(national_identifier="AU-NOBODY")),
        (server.identity.GetCitizen, ipb.GetCitizenRequest(citizen_id=citizen_id)),
        (
            server.identity.GetCitizen,
            ipb.GetCitizenRequest(citizen_id="00000000-0000-4000-8000-000000000000"),
        ),
    ]
    answers: set[tuple[grpc.StatusCode, str, str]] = set()
    for method, request in missing_purpose:
        refused = server.refusal(method, request, "building")
        assert isinstance(refused, grpc.Call)
        bad = detail(refused, error_details_pb2.BadRequest)
        assert bad is not None
        answers.add((refused.code(), reason(refused), bad.field_violations[0].field))
    assert answers == {(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", "purpose")}
    assert server.written() == before

    hit = ipb.FindCitizenRequest(national_identifier="AU-FIND", purpose="building permit 7")
    miss = ipb.FindCitizenRequest(national_identifier="AU-NOBODY", purpose="building permit 8")
    server.identity.FindCitizen(hit, metadata=bearer(server.keys["building"]))
    after_hit = server.written()
    refused_as(
        server.refusal(server.identity.FindCitizen, miss, "building"),
        Code.NOT_FOUND,
        "CITIZEN_NOT_FOUND",
    )
    assert after_hit - before == server.written() - after_hit == 1, "a miss is recorded as a hit"
    last = server.node.store.recorder.select_notifications(start=server.written(), limit=1)[0]
    assert last.topic == "ledger.DataAccess.Recorded"

    # A duplicate registration answers with the existing citizen, and the citizen sees it.
    duplicate = server.client("tax-registrar").register({"national_identifier": "AU-FIND"})
    assert (duplicate.citizen_id, duplicate.already_registered) == (citizen_id, True)
    assert duplicate.activation_code == ""
    accesses = [json.loads(i.summary_json) for i in server.history(token, ("data_access",))]
    assert {"agency": "tax-registrar", "resource": "personal data"}.items() <= accesses[-1].items()
    assert "already registered" in accesses[-1]["purpose"]
