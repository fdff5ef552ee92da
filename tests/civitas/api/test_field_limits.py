"""Every request field has a limit, and a field over it is refused before any work (issue 14).

The table (`civitas/api/field_limits.py`) is checked against the request descriptors, so a new
field cannot be added unbounded. Over gRPC, on SQLite and PostgreSQL, a hypothesis property picks
a field of the table, sends it past its limit to a method that carries it, by a caller the method
allows, and expects INVALID_ARGUMENT / FIELD_TOO_LONG naming the field, and no new event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civitas.api.field_limits import (
    FIELD_LIMITS,
    MAX_REQUEST_BYTES,
    PROTO_FILES,
    FieldLimit,
    bounded_fields,
    check_field_limits,
    largest_request,
    request_descriptors,
)
from civitas.api.roles import ROLES, role_allowed
from civitas.client import CivitasClient, activation, bearer
from civitas.node import Node
from civitas.server import build_server
from ledger.errors import InvalidInput
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as tpb
from tests.civitas.status_details import detail, reason
from tests.conftest import ready_node

PASSWORD = "a long and unusual passphrase"
CALLER_ROLES = {
    "agency": "agency:tax,registrar,relying-service",
    "admin": "admin",
    "auditor": "auditor",
    "citizen": "citizen",
}
METHODS: list[MethodDescriptor] = [
    method
    for module in PROTO_FILES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


# --- The table covers every request field -----------------------------------------------------


def test_every_string_bytes_and_repeated_field_of_every_request_has_a_limit() -> None:
    missing = []
    for descriptor in request_descriptors():
        for field in bounded_fields(descriptor):
            limit = FIELD_LIMITS.get(field.full_name)
            scalar = field.message_type is None
            if (
                limit is None
                or (field.is_repeated and limit.max_items <= 0)
                or (scalar and limit.max_bytes <= 0)
                or not limit.why
            ):
                missing.append(field.full_name)
    assert missing == [], f"request fields without a limit (add them to FIELD_LIMITS): {missing}"


def test_the_table_names_no_field_that_no_request_carries() -> None:
    carried = {f.full_name for d in request_descriptors() for f in bounded_fields(d)}
    assert set(FIELD_LIMITS) - carried == set()


def test_the_receive_limit_fits_the_largest_valid_request_and_no_more_than_4_kib_over() -> None:
    largest = max(largest_request(d) for d in request_descriptors())
    assert largest <= MAX_REQUEST_BYTES < largest + 4 * 1024
    assert MAX_REQUEST_BYTES < 4 * 1024 * 1024 // 16  # far below gRPC's default of 4 MiB


def test_the_largest_request_the_table_allows_fits_the_receive_limit() -> None:
    request = ipb.CompletePasskeyRegistrationRequest(
        citizen_id="c" * 64,
        registration_id="r" * 64,
        credential_json="{" * (64 * 1024),
        proof=ipb.CitizenProof(citizen_token="t" * 8192, activation_code="a" * 64),
    )
    check_field_limits(request)
    assert request.ByteSize() <= MAX_REQUEST_BYTES


# --- The walk, in process --------------------------------------------------------------------


def violations_of(request: Message) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as raised:
        check_field_limits(request)
    assert raised.value.reason == "FIELD_TOO_LONG"
    return [(v.field, v.description) for v in raised.value.violations]


def test_nested_and_repeated_fields_are_named_by_their_path() -> None:
    request = ipb.CompleteAuthenticationRequest(
        attempt_id="a", client=ipb.ClientContext(address="1" * 65, user_agent="u" * 512)
    )
    assert violations_of(request) == [("client.address", "at most 64 bytes")]
    proof = ipb.CitizenProof(citizen_token="t" * 8193)
    assert violations_of(ipb.SetPasswordRequest(proof=proof)) == [
        ("proof.citizen_token", "at most 8192 bytes")
    ]
    documents = ["0" * 64, "1" * 64, "2" * 64, "3" * 65]
    assert violations_of(tpb.SubmitTransactionRequest(documents=documents)) == [
        ("documents[3]", "at most 64 bytes")
    ]
    assert violations_of(tpb.SubmitTransactionRequest(documents=["d"] * 51)) == [
        ("documents", "at most 50 items")
    ]


def test_strings_are_measured_in_utf8_bytes_not_characters() -> None:
    check_field_limits(ipb.ClientContext(address="a" * 64))
    check_field_limits(ipb.ClientContext(address="é" * 32))  # 64 bytes
    assert violations_of(ipb.ClientContext(address="é" * 33)) == [("address", "at most 64 bytes")]
    assert violations_of(ipb.ClientContext(user_agent="💥" * 129)) == [
        ("user_agent", "at most 512 bytes")
    ]


def test_a_request_of_raw_bytes_has_no_fields_to_check() -> None:
    assert check_field_limits(b"raw") == b"raw"  # a generic handler without a deserializer


@given(st.text(max_size=80))
def test_a_string_passes_exactly_when_its_utf8_fits(address: str) -> None:
    request = ipb.ClientContext(address=address)
    fits = len(address.encode("utf-8", "surrogatepass")) <= 64
    try:
        check_field_limits(request)
        assert fits
    except InvalidInput:
        assert not fits


# --- Over gRPC: every field past its limit is refused, nothing written ------------------------


@dataclass(frozen=True)
class Target:
    """A field of the table, reached by one method's request along `path`."""

    method: MethodDescriptor
    path: tuple[FieldDescriptor, ...]

    @property
    def limit(self) -> FieldLimit:
        return FIELD_LIMITS[self.path[-1].full_name]

    @property
    def name(self) -> str:
        return ".".join(f.name for f in self.path)

    def __repr__(self) -> str:
        return f"Target({self.method.name}: {self.name})"


def _targets() -> list[Target]:
    found: dict[str, Target] = {}  # one method per field of the table: enough, and fast
    for method in METHODS:
        pending: list[tuple[FieldDescriptor, ...]] = [(f,) for f in method.input_type.fields]
        while pending:
            path = pending.pop()
            field = path[-1]
            if field.message_type is not None and not field.is_repeated:
                pending += [(*path, f) for f in field.message_type.fields]
            elif field.full_name in FIELD_LIMITS:
                found.setdefault(field.full_name, Target(method, path))
    return sorted(found.values(), key=repr)


TARGETS = _targets()


def test_every_field_of_the_table_is_reached_by_the_property_below() -> None:
    assert {t.path[-1].full_name for t in TARGETS} == set(FIELD_LIMITS)


def oversize(target: Target, extra: int, wide: bool, too_many: bool) -> tuple[Message, str]:
    """A request of the target's method whose target field is past its limit, with the path
    the refusal must name."""
    request = message_factory.GetMessageClass(target.method.input_type)()
    parent: Any = request
    for field in target.path[:-1]:
        parent = getattr(parent, field.name)
    field, limit = target.path[-1], target.limit
    if field.type == field.TYPE_BYTES:
        value: str | bytes = b"\x00" * (limit.max_bytes + extra)
    elif wide and limit.max_bytes >= 2:  # two-byte characters: the bytes count, not characters
        value = "é" * (limit.max_bytes // 2) + "é" * ((extra + 1) // 2)
    else:
        value = "x" * (limit.max_bytes + extra)
    if not field.is_repeated:
        setattr(parent, field.name, value)
        return request, target.name
    if too_many:
        getattr(parent, field.name).extend(["k"] * (limit.max_items + extra))
        return request, target.name
    getattr(parent, field.name).extend(["k", value])
    return request, f"{target.name}[1]"


@dataclass
class Served:
    node: Node
    channel: grpc.Channel
    credentials: dict[str, tuple[tuple[str, str], ...]]

    def last_event(self) -> int:
        return self.node.store.recorder.max_notification_id() or 0

    def caller_for(self, method: MethodDescriptor) -> tuple[tuple[str, str], ...]:
        allowed = ROLES[f"{method.containing_service.full_name}/{method.name}"]
        caller = next(c for c, role in CALLER_ROLES.items() if role_allowed(role, allowed))
        return self.credentials[caller]

    def refusal(self, method: MethodDescriptor, request: Message) -> grpc.Call:
        path = f"/{method.containing_service.full_name}/{method.name}"
        reply = message_factory.GetMessageClass(method.output_type)
        md = self.caller_for(method)
        kind = self.channel.unary_stream if method.server_streaming else self.channel.unary_unary
        call: Any = kind(
            path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=reply.FromString,
        )

        def answer() -> None:
            reply = call(request, metadata=md, timeout=30)
            if method.server_streaming:
                next(iter(reply))  # a stream's refusal comes with its first read

        with pytest.raises(grpc.RpcError) as raised:
            answer()
        error = raised.value
        assert isinstance(error, grpc.Call)
        return error


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    node = ready_node(tmp_path / "data", database_url, "civitas.test/limits")
    keys = {
        caller: node.accounts.create(caller, role, actor="service:test").api_key
        for caller, role in CALLER_ROLES.items()
        if caller != "citizen"
    }
    server, _ = build_server(node)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    agency = CivitasClient(channel, keys["agency"])
    registered = agency.register({"national_identifier": "LIMITS-1"})
    agency.set_password(
        registered.citizen_id, PASSWORD, proof=activation(registered.activation_code)
    )
    token = agency.authenticate_password(registered.citizen_id, PASSWORD).token
    credentials = {caller: tuple(bearer(key)) for caller, key in keys.items()}
    credentials["citizen"] = tuple(bearer(token))
    try:
        yield Served(node, channel, credentials)
    finally:
        channel.close()
        server.stop(grace=None)
        node.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(TARGETS),
    extra=st.integers(1, 300),
    wide=st.booleans(),
    too_many=st.booleans(),
)
def test_any_field_past_its_limit_is_refused_naming_it_and_nothing_is_written(
    served: Served, target: Target, extra: int, wide: bool, too_many: bool
) -> None:
    request, path = oversize(target, extra, wide, too_many)
    before = served.last_event()
    error = served.refusal(target.method, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (target, error.details())
    assert reason(error) == "FIELD_TOO_LONG"
    bad_request = detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == [path]
    assert served.last_event() == before


def test_every_field_of_the_table_refused_once_each(served: Served) -> None:
    """The property above samples; this visits each field once, so none is left out."""
    for target in TARGETS:
        request, path = oversize(target, 1, wide=False, too_many=False)
        error = served.refusal(target.method, request)
        assert (error.code(), reason(error)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "FIELD_TOO_LONG",
        ), target
        bad_request = detail(error, error_details_pb2.BadRequest)
        assert bad_request is not None
        assert [v.field for v in bad_request.field_violations] == [path], target


def test_a_request_past_the_receive_limit_is_resource_exhausted(served: Served) -> None:
    method = ipb.DESCRIPTOR.services_by_name["IdentityService"].methods_by_name[
        "CompleteAuthentication"
    ]
    request = ipb.CompleteAuthenticationRequest(
        attempt_id="a", client=ipb.ClientContext(user_agent="u" * MAX_REQUEST_BYTES)
    )
    before = served.last_event()
    assert served.refusal(method, request).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert served.last_event() == before


def test_a_sign_in_with_a_long_user_agent_is_refused_and_leaves_its_attempt_open(
    served: Served,
) -> None:
    """Issue 14: 48 attempts with a 3.8 MB user agent made the database 350 MB."""
    md = served.credentials["agency"]
    agency = CivitasClient(served.channel, md[0][1].removeprefix("Bearer "))
    citizen = agency.register({"national_identifier": "LIMITS-UA"})
    agency.set_password(citizen.citizen_id, PASSWORD, proof=activation(citizen.activation_code))
    attempt = agency.begin_authentication(citizen.citizen_id).attempt_id
    method = ipb.DESCRIPTOR.services_by_name["IdentityService"].methods_by_name[
        "CompleteAuthentication"
    ]
    before = served.last_event()
    request = ipb.CompleteAuthenticationRequest(
        attempt_id=attempt, password=PASSWORD, client=ipb.ClientContext(user_agent="u" * 513)
    )
    error = served.refusal(method, request)
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_TOO_LONG")
    assert served.last_event() == before
    request.client.user_agent = "u" * 512
    call: Any = served.channel.unary_unary(
        "/civitas.v1.IdentityService/CompleteAuthentication",
        request_serializer=ipb.CompleteAuthenticationRequest.SerializeToString,
        response_deserializer=ipb.AuthenticationResult.FromString,
    )
    assert call(request, metadata=md, timeout=30).token  # the attempt was not spent
