"""Refusals a relying service can act on, over real gRPC (docs/errors.md).

One in-process server on SQLite. The identity application's clock is the test's and stands
still unless moved, so throttling and lockout are reached without sleeping and the wait a
throttled factor announces is exact. No sequencer runs: nothing is ever in a signed checkpoint,
which is what makes NOT_YET_SEQUENCED happen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from eventsourcing.persistence import OperationalError
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from civitas.client import CivitasClient, activation, bearer, citizen_token
from civitas.node import Node
from civitas.server import build_server
from civitas.soft_authenticator import SoftAuthenticator
from ledger.breaker import COOL_DOWN_SECONDS
from ledger.errors import Aborted
from protos.civitas.v1 import audit_pb2 as apb
from protos.civitas.v1 import audit_pb2_grpc, history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as tpb
from tests.civitas.status_details import detail, field_path_resolves, reason
from tests.conftest import ready_node
from tests.identity.conftest import code_at, seed_of

PASSWORD = "a long and unusual passphrase"
WRONG = "not the passphrase at all"
ORIGIN = "https://localhost"  # the configuration's default relying party
Code = grpc.StatusCode


class StoppedClock:
    """Real time once, then only what the test adds: `advance` is the only way it moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Server:
    node: Node
    channel: grpc.Channel
    clock: StoppedClock
    agency_key: str
    auditor_key: str
    admin_key: str

    @property
    def agency(self) -> CivitasClient:
        return CivitasClient(self.channel, self.agency_key)

    @property
    def identity(self) -> Any:
        return identity_pb2_grpc.IdentityServiceStub(self.channel)

    def citizen(self, national_identifier: str) -> str:
        """A citizen who set their password with their activation code."""
        citizen = self.agency.register({"national_identifier": national_identifier})
        code = activation(citizen.activation_code)
        self.agency.set_password(citizen.citizen_id, PASSWORD, proof=code)
        return citizen.citizen_id

    def owner(self, citizen: str) -> ipb.CitizenProof:
        """The citizen's own proof for a further factor: their password session (AAL1)."""
        return citizen_token(self.agency.authenticate_password(citizen, PASSWORD).token)

    def sign_in(self, citizen: str, *, password: str = "", totp_code: str = "") -> grpc.RpcError:
        attempt = self.agency.begin_authentication(citizen).attempt_id
        request = ipb.CompleteAuthenticationRequest(
            attempt_id=attempt, password=password, totp_code=totp_code
        )
        return self.refusal(self.identity.CompleteAuthentication, request)

    def refusal(self, method: Any, request: Message, key: str | None = None) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as raised:
            method(request, metadata=bearer(key or self.agency_key), timeout=30)
        return raised.value


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("errors")
    clock = StoppedClock()
    database = f"sqlite:///{folder / 'civitas.sqlite'}"
    node = ready_node(folder / "data", database, "civitas.test/errors", clock)
    agency_key = node.accounts.create(
        "tax-portal", "agency:tax,registrar,relying-service", actor="service:test"
    ).api_key
    auditor_key = node.accounts.create("auditor-1", "auditor", actor="service:test").api_key
    admin_key = node.accounts.create("operator", "admin", actor="service:test").api_key
    grpc_server, _ = build_server(node)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Server(node, channel, clock, agency_key, auditor_key, admin_key)
    finally:
        channel.close()
        grpc_server.stop(grace=None)
        node.close()


def refused_as(error: grpc.RpcError, code: grpc.StatusCode, expected_reason: str) -> None:
    assert isinstance(error, grpc.Call)
    assert (error.code(), reason(error)) == (code, expected_reason), error.details()


def test_a_wrong_password_is_password_mismatch(server: Server) -> None:
    citizen = server.citizen("ER-PASSWORD")
    refused_as(server.sign_in(citizen, password=WRONG), Code.UNAUTHENTICATED, "PASSWORD_MISMATCH")


def test_a_totp_code_used_twice_is_totp_replayed(server: Server) -> None:
    citizen = server.citizen("ER-TOTP")
    owner = server.owner(citizen)
    enrolment = server.agency.begin_totp_enrolment(citizen, proof=owner)
    code = code_at(seed_of(enrolment.provisioning_uri), server.clock.now)
    server.agency.confirm_totp_enrolment(citizen, enrolment.authenticator_id, code, proof=owner)
    # Confirming spent the code's time step (RFC 6238 section 5.2): signing in with it is a replay.
    refused_as(server.sign_in(citizen, totp_code=code), Code.UNAUTHENTICATED, "TOTP_REPLAYED")
    wrong = "000000" if code != "000000" else "111111"
    refused_as(server.sign_in(citizen, totp_code=wrong), Code.UNAUTHENTICATED, "TOTP_MISMATCH")


def test_failures_throttle_with_the_wait_left_then_lock_the_factor(server: Server) -> None:
    citizen = server.citizen("ER-LOCKOUT")
    for _ in range(5):  # the configuration's throttle_after
        server.sign_in(citizen, password=WRONG)
    throttled = server.sign_in(citizen, password=PASSWORD)  # even the right one must wait
    refused_as(throttled, Code.UNAUTHENTICATED, "FACTOR_THROTTLED")
    info = detail(throttled, error_details_pb2.ErrorInfo)
    assert info is not None
    assert dict(info.metadata) == {"method": "password"}
    retry = detail(throttled, error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToMilliseconds() == 1000  # base_delay: the clock has not moved
    server.clock.advance(milliseconds=400)
    retry = detail(server.sign_in(citizen, password=PASSWORD), error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToMilliseconds() == 600  # the wait left, not the whole delay

    for _ in range(5):  # up to the configuration's lock_after, each after the throttle's wait
        server.clock.advance(minutes=20)
        refused_as(
            server.sign_in(citizen, password=WRONG), Code.UNAUTHENTICATED, "PASSWORD_MISMATCH"
        )
    server.clock.advance(minutes=20)
    locked = server.sign_in(citizen, password=PASSWORD)
    refused_as(locked, Code.UNAUTHENTICATED, "FACTOR_LOCKED")
    assert detail(locked, error_details_pb2.RetryInfo) is None  # waiting will not unlock it


def test_a_completed_attempt_is_attempt_already_used(server: Server) -> None:
    citizen = server.citizen("ER-ATTEMPT")
    attempt = server.agency.begin_authentication(citizen).attempt_id
    request = ipb.CompleteAuthenticationRequest(attempt_id=attempt, password=PASSWORD)
    server.identity.CompleteAuthentication(request, metadata=bearer(server.agency_key))
    again = server.refusal(server.identity.CompleteAuthentication, request)
    refused_as(again, Code.UNAUTHENTICATED, "ATTEMPT_ALREADY_USED")


def test_a_passkey_from_another_origin_is_passkey_origin(server: Server) -> None:
    citizen = server.citizen("ER-PASSKEY")
    soft = SoftAuthenticator(ORIGIN, "localhost")
    server.agency.enrol_passkey(citizen, soft, proof=server.owner(citizen))
    # A user-verifying passkey reaches AAL2: a second one needs a session at AAL2 (step-up).
    strong = server.agency.authenticate_passkey(citizen, soft).token
    begin = ipb.BeginPasskeyRegistrationRequest(citizen_id=citizen, proof=citizen_token(strong))
    options = server.identity.BeginPasskeyRegistration(begin, metadata=bearer(server.agency_key))
    registration = ipb.CompletePasskeyRegistrationRequest(
        citizen_id=citizen,
        registration_id=options.registration_id,
        credential_json=SoftAuthenticator("https://phishing.example", "localhost").create(
            options.options_json
        ),
        proof=citizen_token(strong),
    )
    refused = server.refusal(server.identity.CompletePasskeyRegistration, registration)
    refused_as(refused, Code.INVALID_ARGUMENT, "PASSKEY_ORIGIN")

    challenge = server.agency.begin_authentication(citizen)
    assertion = soft.get(challenge.passkey_options_json, origin="https://phishing.example")
    request = ipb.CompleteAuthenticationRequest(
        attempt_id=challenge.attempt_id, passkey_assertion_json=assertion
    )
    refused = server.refusal(server.identity.CompleteAuthentication, request)
    refused_as(refused, Code.UNAUTHENTICATED, "PASSKEY_ORIGIN")


def test_an_event_not_yet_in_a_checkpoint_is_unavailable_with_retry_info(server: Server) -> None:
    citizen = server.citizen("ER-RECEIPT")
    token = server.agency.authenticate_password(citizen, PASSWORD).token
    target = server.node.store.recorder.max_notification_id()
    timeline = next(p for p in server.node.projections() if p.name == "timeline")
    assert timeline.catch_up(target, 30)
    history = history_pb2_grpc.HistoryServiceStub(server.channel)
    request = hpb.GetReceiptRequest(stream=citizen, version=1)
    refused = server.refusal(history.GetReceipt, request, token)
    refused_as(refused, Code.UNAVAILABLE, "NOT_YET_SEQUENCED")
    retry = detail(refused, error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToMilliseconds() == server.node.config.checkpoint_interval * 1000
    localized = detail(refused, error_details_pb2.LocalizedMessage)
    assert localized is not None
    assert "try again" in localized.message  # a wait, not an impossibility

    audit = audit_pb2_grpc.AuditServiceStub(server.channel)
    no_checkpoint = apb.GetLatestCheckpointRequest()
    refused = server.refusal(audit.GetLatestCheckpoint, no_checkpoint, server.auditor_key)
    refused_as(refused, Code.UNAVAILABLE, "NOT_YET_SEQUENCED")


def test_an_unknown_or_revoked_api_key_is_unknown_api_key(server: Server) -> None:
    issued = server.node.accounts.create("old-portal", "agency:tax", actor="service:test")
    server.node.accounts.revoke("old-portal", "retired", actor="service:test")
    jwks = ipb.GetJwksRequest()
    # Revoked, never issued, or a known account's name with the wrong secret: one reason, so a
    # caller cannot learn which account names exist.
    for key in (issued.api_key, "cvk.no-such-portal.secret", server.agency_key + "x"):
        refused = server.refusal(server.identity.GetJwks, jwks, key)
        refused_as(refused, Code.UNAUTHENTICATED, "UNKNOWN_API_KEY")
    refused = server.refusal(server.identity.GetJwks, jwks, "cvk.")
    refused_as(refused, Code.UNAUTHENTICATED, "MALFORMED_API_KEY")


@pytest.mark.parametrize(
    ("path", "streaming"),
    [
        ("/civitas.v1.IdentityService/RegisterCitizen", False),
        ("/civitas.v1.HistoryService/WatchMyHistory", True),
    ],
)
def test_undecodable_request_bytes_are_invalid_argument(
    server: Server, path: str, streaming: bool, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, length-delimited, longer than the message
    key = server.agency_key
    if streaming:
        key = server.agency.authenticate_password(server.citizen("ER-BYTES"), PASSWORD).token
    send = server.channel.unary_stream if streaming else server.channel.unary_unary
    call = send(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with caplog.at_level(logging.INFO, "civitas.access"), pytest.raises(grpc.RpcError) as raised:
        _answer(call(garbage, metadata=tuple(bearer(key)), timeout=30))
    refused_as(raised.value, Code.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    method = path.lstrip("/")
    assert f"{method} INVALID_ARGUMENT" in caplog.text  # logged and counted like any call
    counted = server.node.metrics.registry.get_sample_value(
        "civitas_rpc_requests_total", {"method": method, "code": "INVALID_ARGUMENT"}
    )
    assert counted is not None
    assert counted >= 1
    # Garbage from a caller with no credentials is refused for those first.
    with pytest.raises(grpc.RpcError) as anonymous:
        _answer(call(garbage, timeout=30))
    refused_as(anonymous.value, Code.UNAUTHENTICATED, "NO_CREDENTIALS")


def _answer(reply: Any) -> None:
    """Read a stream to its end (a unary call has raised by now)."""
    if isinstance(reply, Iterator):
        list(reply)


def _violations(error: grpc.RpcError) -> list[str]:
    bad_request = detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    return [v.field for v in bad_request.field_violations]


def _fee(**amount: Any) -> tpb.Amount:
    return tpb.Amount(**{"minor_units": 100, "currency": "EUR", **amount})


RECEIPT = "ab" * 32
# (service, method, request, the field paths its violations must name)
BAD_REQUESTS: list[tuple[str, str, Message, set[str]]] = [
    (
        "IdentityService",
        "RegisterCitizen",
        ipb.RegisterCitizenRequest(
            personal_data=ipb.PersonalData(birth_date="12.04.1985", email="at"),
            assurance=ipb.IAL2,
            evidence="e" * 1001,
        ),
        {
            "personal_data.national_identifier",
            "personal_data.birth_date",
            "personal_data.email",
            "evidence",
        },
    ),
    (
        "IdentityService",
        "SetPassword",
        ipb.SetPasswordRequest(password="short", proof=ipb.CitizenProof(activation_code="c")),
        {"password"},
    ),
    (
        "IdentityService",
        "CompleteAuthentication",
        ipb.CompleteAuthenticationRequest(client=ipb.ClientContext(user_agent="u" * 512)),
        {"password", "totp_code", "passkey_assertion_json", "recovery_code"},
    ),
    (
        "IdentityService",
        "UnlockFactor",
        ipb.UnlockFactorRequest(citizen_id="x", method="sms", reason="r"),
        {"citizen_id"},
    ),
    (
        "TransactionService",
        "SubmitTransaction",
        tpb.SubmitTransactionRequest(
            idempotency_key="k-1",
            service_code="tax.payment",
            citizen_id="00000000-0000-4000-8000-000000000000",
            amount=_fee(minor_units=-1, currency="XAU"),
            documents=[RECEIPT, "not a hash"],
        ),
        {"amount.minor_units", "amount.currency", "documents[1]"},
    ),
    (
        "TransactionService",
        "ListTransactions",
        tpb.ListTransactionsRequest(statuses=["LOST"]),
        {"statuses"},
    ),
    (
        "HistoryService",
        "ListMyHistory",
        hpb.ListMyHistoryRequest(page_token="not ours"),
        {"page_token"},
    ),
    ("HistoryService", "GetReceipt", hpb.GetReceiptRequest(), {"stream", "version"}),
    ("AuditService", "StreamProjection", apb.StreamProjectionRequest(name="nope"), {"name"}),
]


@pytest.mark.parametrize(
    ("service", "method", "request_", "fields"),
    BAD_REQUESTS,
    ids=[f"{service}.{method}" for service, method, *_ in BAD_REQUESTS],
)
def test_violations_name_fields_of_the_request(
    server: Server, service: str, method: str, request_: Message, fields: set[str]
) -> None:
    keys = {"AuditService": server.auditor_key, "UnlockFactor": server.admin_key}
    key = keys.get(service, keys.get(method, server.agency_key))
    if service == "HistoryService":  # the citizen's own
        key = server.agency.authenticate_password(server.citizen(f"ER-{method}"), PASSWORD).token
    path = f"/civitas.v1.{service}/{method}"
    reply = type(request_).FromString  # any parser will do: only the refusal is read
    streaming = method in ("StreamProjection", "WatchMyHistory")
    send = server.channel.unary_stream if streaming else server.channel.unary_unary
    call = send(
        path, request_serializer=type(request_).SerializeToString, response_deserializer=reply
    )
    with pytest.raises(grpc.RpcError) as raised:
        _answer(call(request_, metadata=tuple(bearer(key)), timeout=30))
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == Code.INVALID_ARGUMENT, raised.value.details()
    violations = _violations(raised.value)
    assert set(violations) == fields
    assert all(field_path_resolves(request_, field) for field in violations)


def _count(server: Server, method: str, code: str) -> float:
    value = server.node.metrics.registry.get_sample_value(
        "civitas_rpc_requests_total", {"method": f"civitas.v1.{method}", "code": code}
    )
    return value or 0.0


def test_the_client_retries_a_call_aborted_by_a_concurrent_change(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = server.node.identity
    register = identity.register_citizen
    aborts = iter([Aborted("the citizen changed concurrently; try again")])

    def beaten_once(*args: Any, **kwargs: Any) -> Any:
        for error in aborts:
            raise error
        return register(*args, **kwargs)

    monkeypatch.setattr(identity, "register_citizen", beaten_once)
    citizen = server.agency.register_citizen({"national_identifier": "ER-ABORTED"})
    assert server.node.identity.get_citizen(citizen).personal_data["national_identifier"] == (
        "ER-ABORTED"
    )
    assert _count(server, "IdentityService/RegisterCitizen", "ABORTED") == 1


def test_the_client_waits_for_a_receipt_as_retry_info_says(server: Server) -> None:
    citizen = server.citizen("ER-WAIT")
    token = server.agency.authenticate_password(citizen, PASSWORD).token
    timeline = next(p for p in server.node.projections() if p.name == "timeline")
    assert timeline.catch_up(server.node.store.recorder.max_notification_id(), 30)
    before = _count(server, "HistoryService/GetReceipt", "UNAVAILABLE")
    with pytest.raises(grpc.RpcError) as raised:  # no sequencer runs: it never comes
        server.agency.receipt(token, citizen, 1, wait=1.2)
    assert reason(raised.value) == "NOT_YET_SEQUENCED"
    # Asked at 0, 0.5, 1.0 and once more at the deadline: RetryInfo's 0.5 s, not a busy poll.
    asked = _count(server, "HistoryService/GetReceipt", "UNAVAILABLE") - before
    assert 3 <= asked <= 4


def test_a_lost_database_is_unavailable_with_the_breakers_cool_down(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(server.node.identity, "jwks_json", unreachable)
    refused = server.refusal(server.identity.GetJwks, ipb.GetJwksRequest())
    refused_as(refused, Code.UNAVAILABLE, "DATABASE_UNREACHABLE")
    retry = detail(refused, error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToMilliseconds() == COOL_DOWN_SECONDS * 1000
