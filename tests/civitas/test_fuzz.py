"""Every RPC, fed hypothesis-generated protobuf messages (issue 6: "only the expected status
codes, nothing written for refused input").

The methods come from the service descriptors of protos/civitas/v1, so a new RPC is fuzzed
without touching this file. Requests are drawn from the request's descriptor (strategies in
`tests/civitas/protobuf_strategies.py`), with values of a seeded world mixed in (citizens,
transactions, attempts, sessions, a real passkey response) so calls reach past the first check.
Each call is made by a caller the role policy allows, now and then by one it refuses or by
nobody, and must end in an expected status: never INTERNAL or UNKNOWN.

A refused call writes nothing: the store's last notification id stays where it was. One refusal
writes by design: CompleteAuthentication on a known attempt is an attempt, and every attempt,
success or failure, is a ledger event (docs/design.md section 1, write path) — so a refused one
records `identity.Citizen.AuthenticationFailed`, with the attempt's `Completed` when it was still
open, and nothing else. RefreshSession refused with TOKEN_ROTATED writes one `Revoked`: a replaced
token presented again ends its session (reuse detection). BeginAuthentication follows the general
rule: it records an attempt when it succeeds and nothing when it is refused.

CI runs a fixed sequence of examples per RPC (derandomized, so a failure reproduces);
`CIVITAS_FUZZ_EXAMPLES=500` explores afresh with that many per RPC.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from civitas.api.field_limits import MAX_REQUEST_BYTES  # larger requests: RESOURCE_EXHAUSTED
from civitas.api.roles import ROLES, role_allowed
from civitas.client import CivitasClient, activation, citizen_token
from civitas.node import Node
from civitas.server import build_server
from civitas.soft_authenticator import SoftAuthenticator
from ledger.sequencer import SequencerService
from projections.service import ProjectionService
from protos.civitas import v1
from protos.civitas.v1 import identity_pb2, identity_pb2_grpc
from tests.civitas.protobuf_strategies import Hints, messages, world_hints
from tests.civitas.status_details import detail, field_path_resolves, reason
from tests.conftest import ready_node

EXAMPLES = int(os.environ.get("CIVITAS_FUZZ_EXAMPLES", "0")) or 60
settings.register_profile(
    "fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="CIVITAS_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

PROTO_MODULES = [
    importlib.import_module(f"{v1.__name__}.{module.name}")
    for module in pkgutil.iter_modules(v1.__path__)
    if module.name.endswith("_pb2")
]
METHODS: list[MethodDescriptor] = [
    method
    for module in PROTO_MODULES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
CALLER_ROLES = {
    "agency": "agency:tax,registrar,relying-service",
    "other-agency": "agency:building,registrar,relying-service",
    "admin": "admin",
    "auditor": "auditor",
    "citizen": "citizen",
}
Code = grpc.StatusCode
EXPECTED = {
    Code.OK,
    Code.INVALID_ARGUMENT,
    Code.NOT_FOUND,
    Code.FAILED_PRECONDITION,
    Code.ALREADY_EXISTS,
    Code.PERMISSION_DENIED,
    Code.OUT_OF_RANGE,
    Code.UNAVAILABLE,  # only NOT_YET_SEQUENCED: not in a signed checkpoint yet
}
# A server stream that was still open when the fuzz stopped reading: ended by the client.
STREAM_ENDED_BY_US = {Code.CANCELLED, Code.DEADLINE_EXCEEDED}
# Ended by gRPC itself, before or after the service: no Civitas reason to give.
ENDED_BY_GRPC = {*STREAM_ENDED_BY_US, Code.RESOURCE_EXHAUSTED}
REASON = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")  # AIP-193: UPPER_SNAKE_CASE
STREAM_SECONDS = 0.3
REFUSAL_SECONDS = 10.0
# A stream cut off before its first item may still be at work on the server (a watch records
# the read first): give it this long to finish before the next example counts what was written.
SETTLE_SECONDS = 0.5
STREAM_ITEMS = 3
COMPLETE_AUTHENTICATION = "civitas.v1.IdentityService.CompleteAuthentication"
ATTEMPT_EVENTS = {
    "identity.Citizen.AuthenticationFailed",
    "identity.AuthenticationAttempt.Completed",
}
# A refresh refused as UNAUTHENTICATED (the session ended, the token is not one of ours) writes
# nothing, but for one case: a replaced token presented again revokes its session first.
REFRESH_SESSION = "civitas.v1.IdentityService.RefreshSession"
REUSE_REVOKES = ["identity.Session.Revoked"]
# Issue 13: a lookup of a citizen that found nobody is recorded like one that found someone.
RECORDS_A_MISS = {
    "civitas.v1.IdentityService.FindCitizen",
    "civitas.v1.IdentityService.GetCitizen",
}
MISS_RECORDED = ["ledger.DataAccess.Recorded"]
# Reads that state no purpose record nothing, even when they succeed; so does every method of
# AuditService ("an auditor only reads", docs/design.md section 4).
READ_ONLY_SERVICE = "civitas.v1.AuditService"
READ_ONLY = {
    "civitas.v1.HistoryService.ListMyHistory",
    "civitas.v1.HistoryService.GetReceipt",
    "civitas.v1.HistoryService.WatchMyHistory",
    "civitas.v1.IdentityService.IntrospectToken",
    "civitas.v1.IdentityService.ListSessions",
    "civitas.v1.IdentityService.GetJwks",
    "civitas.v1.TransactionService.ListTransactions",
}
SECRET_FIELDS = ("password", "totp_code", "recovery_code", "token", "passkey_assertion_json")
PASSWORD = "a long and unusual passphrase"
ORIGIN = "https://localhost"


class World:
    """The running server, its callers' credentials, and the values the fuzz mixes in."""

    def __init__(self, node: Node, channel: grpc.Channel) -> None:
        self.node = node
        self.channel = channel
        self.credentials: dict[str, list[tuple[str, str]]] = {"nobody": []}
        self.hints: Hints = {}

    def __repr__(self) -> str:  # hypothesis prints it with a failing example: no keys in it
        return "World(<in-process server>)"

    def last_notification(self) -> int:
        return self.node.store.recorder.max_notification_id() or 0

    def written_since(self, position: int) -> list[str]:
        notifications = self.node.store.recorder.select_notifications(
            start=position, limit=1000, inclusive_of_start=False
        )
        return [n.topic for n in notifications]


def _read_only(method: MethodDescriptor) -> bool:
    return method.full_name in READ_ONLY or method.containing_service.full_name == READ_ONLY_SERVICE


def _allowed(method: MethodDescriptor) -> frozenset[str]:
    service = method.containing_service.full_name
    return ROLES[f"{service}/{method.name}"]


def _may_call(caller: str, allowed: frozenset[str]) -> bool:
    return role_allowed(CALLER_ROLES[caller], allowed)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("fuzz")
    node = ready_node(
        folder / "data", f"sqlite:///{folder / 'civitas.sqlite'}", "civitas.test/fuzz"
    )
    keys = {
        caller: node.accounts.create(name, CALLER_ROLES[caller], actor="service:test").api_key
        for caller, name in (
            ("agency", "tax-portal"),
            ("other-agency", "building-office"),
            ("admin", "operator"),
            ("auditor", "auditor-1"),
        )
    }
    server, _ = build_server(node)
    port = server.add_insecure_port("127.0.0.1:0")
    followers: list[SequencerService | ProjectionService] = [node.sequencer(), *node.projections()]
    for follower in followers:
        follower.start()
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    world = World(node, channel)
    for caller, key in keys.items():
        world.credentials[caller] = [("authorization", f"Bearer {key}")]
    try:
        _seed(world, keys)
        yield world
    finally:
        channel.close()
        server.stop(grace=None)
        for follower in followers:
            follower.stop()
        node.close()


def _seed(world: World, keys: dict[str, str]) -> None:
    """Citizens in every state the fuzz can push further: with a password, a pending TOTP
    enrolment, a pending and a registered passkey, recovery codes, open attempts, a session;
    cases of two agencies in several states. The calling citizen's own id and session stay out
    of the pools, so the fuzz cannot revoke or erase the caller it needs."""
    tax = CivitasClient(world.channel, keys["agency"])
    building = CivitasClient(world.channel, keys["other-agency"])

    def with_password(personal_data: dict[str, str]) -> tuple[str, str, identity_pb2.CitizenProof]:
        """(citizen id, password authenticator, their AAL1 session's proof)."""
        registered = tax.register(personal_data)
        citizen = registered.citizen_id
        code = activation(registered.activation_code)
        password = tax.set_password(citizen, PASSWORD, proof=code).authenticator_id
        return citizen, password, citizen_token(tax.authenticate_password(citizen, PASSWORD).token)

    caller_id, _, caller = with_password({"national_identifier": "FZ-CALLER"})
    world.credentials["citizen"] = [("authorization", f"Bearer {caller.citizen_token}")]

    alice, password, alice_proof = with_password(
        {"national_identifier": "FZ-ALICE", "given_name": "Alice"}
    )
    bob, _, bob_proof = with_password({"national_identifier": "FZ-BOB"})
    authenticators = [password]
    totp = tax.begin_totp_enrolment(alice, "phone", proof=alice_proof)
    authenticators.append(totp.authenticator_id)
    begin = identity_pb2.BeginPasskeyRegistrationRequest(
        citizen_id=alice, label="laptop", proof=alice_proof
    )
    identity = identity_pb2_grpc.IdentityServiceStub(world.channel)  # the begin half alone
    pending = identity.BeginPasskeyRegistration(begin, metadata=world.credentials["agency"])
    tax.issue_recovery_codes(alice, proof=alice_proof)
    soft = SoftAuthenticator(ORIGIN, "localhost")
    tax.enrol_passkey(bob, soft, proof=bob_proof)
    attempts = [tax.begin_authentication(c).attempt_id for c in (alice, alice, bob)]
    passkey_attempt = tax.begin_authentication(bob)
    attempts.append(passkey_attempt.attempt_id)
    session = tax.authenticate_password(alice, PASSWORD)
    # A second session of Alice's: RefreshSession rotates and revokes the tokens it is given.
    other_session = tax.authenticate_password(alice, PASSWORD)

    cases = [
        tax.submit_transaction("tax.return", caller_id, f"fz-{n}").transaction_id for n in range(3)
    ]
    tax.start_review(cases[1], "assigned")
    tax.start_review(cases[2], "assigned")
    tax.request_information(cases[2], "the payslips for March")
    cases.append(building.submit_transaction("permit.event", caller_id, "fz-b").transaction_id)
    cases.append(tax.submit_transaction("tax.return", alice, "fz-alice").transaction_id)

    world.hints = world_hints(
        citizen_ids=[alice, bob],
        transaction_ids=cases,
        attempt_ids=attempts,
        session_ids=[session.session_id, other_session.session_id],
        authenticator_ids=authenticators,
        registration_ids=[pending.registration_id],
        tokens=[session.token, other_session.token],
        streams=[caller_id, *cases],
        national_identifiers=["FZ-ALICE", "FZ-BOB"],
        passwords=[PASSWORD],
        credential_json=[soft.create(pending.options_json)],
        assertion_json=[soft.get(passkey_attempt.passkey_options_json)],
    )


@settings(settings.get_profile("fuzz"))
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name.removeprefix("civitas.v1."))
@given(data=st.data())
def test_every_rpc_answers_fuzzed_requests_with_an_expected_status(
    world: World, method: MethodDescriptor, data: st.DataObject
) -> None:
    allowed = _allowed(method)
    callers = sorted(c for c in CALLER_ROLES if _may_call(c, allowed))
    refused = [*sorted(c for c in CALLER_ROLES if c not in callers), "nobody"]
    refuse = not callers or data.draw(st.integers(0, 9), label="one in ten refused") == 0
    caller = data.draw(st.sampled_from(refused if refuse else callers), label="caller")
    request = data.draw(messages(method.input_type, world.hints), label="request")
    before = world.last_notification()

    # A refused caller's stream, or one too large to receive, ends at once with its refusal:
    # wait for it however busy the machine, where a served stream is read for a moment only.
    ends_at_once = caller in refused or request.ByteSize() > MAX_REQUEST_BYTES
    stream_seconds = REFUSAL_SECONDS if ends_at_once else STREAM_SECONDS
    code, error = _invoke(world.channel, method, request, world.credentials[caller], stream_seconds)

    event(code.name)  # --hypothesis-show-statistics: how deep the fuzz got, RPC by RPC
    where = f"{method.full_name} by {caller}: {code.name} {error.details() if error else ''}"
    if request.ByteSize() > MAX_REQUEST_BYTES:
        assert code == Code.RESOURCE_EXHAUSTED, where
        return
    assert code not in (Code.INTERNAL, Code.UNKNOWN), where
    if caller == "nobody":
        assert code == Code.UNAUTHENTICATED, where
    elif caller in refused:
        assert code == Code.PERMISSION_DENIED, where
    elif method.full_name in (COMPLETE_AUTHENTICATION, REFRESH_SESSION):
        assert code in EXPECTED | {Code.UNAUTHENTICATED}, where
    else:
        assert code in EXPECTED | (STREAM_ENDED_BY_US if method.server_streaming else set()), where
    if error is not None:
        _check_error(error, request, where)

    written = world.written_since(before)
    if code == Code.OK and _read_only(method):
        assert written == [], f"{where}: a read wrote {written}"
    if code in (Code.OK, *STREAM_ENDED_BY_US):
        return
    attempt = method.full_name == COMPLETE_AUTHENTICATION and caller not in refused
    if attempt and code == Code.UNAUTHENTICATED:
        # The attempt itself is the record: refused factors are written down, nothing else.
        assert written, f"{where}: a refused attempt left no trace"
        assert set(written) <= ATTEMPT_EVENTS, f"{where}: wrote {written}"
        return
    if method.full_name == REFRESH_SESSION and code == Code.UNAUTHENTICATED and written:
        assert error is not None, where
        assert reason(error) == "TOKEN_ROTATED", where
        assert written == REUSE_REVOKES, f"{where}: wrote {written}"
        return
    if method.full_name in RECORDS_A_MISS and code == Code.NOT_FOUND and caller not in refused:
        assert written == MISS_RECORDED, f"{where}: wrote {written}"
        return
    assert written == [], f"{where}: refused, but wrote {written}"


def _invoke(
    channel: grpc.Channel,
    method: MethodDescriptor,
    request: Message,
    metadata: list[tuple[str, str]],
    stream_seconds: float,
) -> tuple[grpc.StatusCode, grpc.Call | None]:
    """The status a call ended with; a stream is read for a few items, then let go."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    reply = message_factory.GetMessageClass(method.output_type)
    serialize = type(request).SerializeToString
    md = tuple(metadata)
    try:
        if not method.server_streaming:
            call = channel.unary_unary(
                path, request_serializer=serialize, response_deserializer=reply.FromString
            )
            call(request, metadata=md, timeout=30)
            return Code.OK, None
        stream: Any = channel.unary_stream(
            path, request_serializer=serialize, response_deserializer=reply.FromString
        )(request, metadata=md, timeout=stream_seconds)
        for received, _ in enumerate(stream, start=1):
            if received == STREAM_ITEMS:
                stream.cancel()
                break
        code: grpc.StatusCode = stream.code()
        return code, None
    except grpc.RpcError as error:
        if not isinstance(error, grpc.Call):
            raise
        if error.code() == Code.DEADLINE_EXCEEDED and not _read_only(method):
            time.sleep(SETTLE_SECONDS)
        return error.code(), error


def _check_error(error: grpc.Call, request: Message, where: str) -> None:
    """A refusal carries a stable reason, names each wrong field by its path in the request,
    says when to retry if a retry cures it, and never repeats a secret it was given."""
    if error.code() not in ENDED_BY_GRPC:
        assert REASON.fullmatch(reason(error)), f"{where}: reason {reason(error)!r}"
    if error.code() == Code.UNAVAILABLE:
        assert reason(error) == "NOT_YET_SEQUENCED", where
        assert detail(error, error_details_pb2.RetryInfo) is not None, f"{where}: no RetryInfo"
    if error.code() == Code.INVALID_ARGUMENT:
        bad_request = detail(error, error_details_pb2.BadRequest)
        violations = list(bad_request.field_violations) if bad_request else []
        assert violations, f"{where}: INVALID_ARGUMENT without field violations"
        for violation in violations:
            assert field_path_resolves(request, violation.field), (
                f"{where}: {violation.field!r} is no field of {request.DESCRIPTOR.full_name}"
            )
    text = error.details() or ""
    for name in SECRET_FIELDS:
        value = getattr(request, name, "")
        if isinstance(value, str) and len(value) >= 8:
            assert value not in text, f"{where}: the error repeats the {name}"
