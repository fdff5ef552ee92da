"""Hypothesis strategies for any protobuf message, drawn from its descriptor.

`messages(descriptor, hints)` sets each field or leaves it unset: scalars of the field's type with
its edge values, strings that are empty, long, unicode or full of control characters, bytes,
nested messages, repeated fields (short, or long enough to pass a limit), enums including numbers
no enum names, one member of a oneof, and explicit presence. `hints` maps a field name to values
that mean something to the server (an existing citizen id, a catalogue code, a real passkey
response and mutations of it): drawn three times in four, they carry a request past the first
check to the rules behind it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from identity.citizen import METHODS
from ledger.catalogue import ServiceCatalogue
from projections.cases import STATUSES
from projections.history import KINDS

Hints = dict[str, st.SearchStrategy[Any]]
F = FieldDescriptor
MAX_DEPTH = 3
INTEGER_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
EDGE_STRINGS = (
    "",
    " ",
    "\x00",
    "\n\r\t",
    "a" * 257,  # past the identity text limit
    "n" * 2001,  # past the transaction text limit
    "é" * 600,
    "\u202e\u200b\ufeff",
    "💥" * 300,
    "x" * 70_000,
    "00000000-0000-0000-0000-000000000000",
    "' OR 1=1 --",
    "%s%n{0}",
    "null",
)
control_text = st.text(st.characters(max_codepoint=0x9F), max_size=20)
repeated_text = st.tuples(st.text(min_size=1, max_size=4), st.integers(50, 3000)).map(
    lambda pair: pair[0] * pair[1]
)
strings = st.one_of(
    st.text(max_size=24),
    control_text,
    repeated_text,
    st.sampled_from(EDGE_STRINGS),
    st.uuids().map(str),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


# Timestamps (since, until): in range, zero (no bound), and each way of leaving the range
# google/protobuf/timestamp.proto defines, including the last nanosecond that rounds past it.
TIMES = (
    Timestamp(seconds=1_795_424_400),  # 2026-11-23T09:00:00Z
    Timestamp(seconds=1_795_424_400, nanos=999_999_999),
    Timestamp(),
    Timestamp(seconds=-62_135_596_800),  # 0001-01-01T00:00:00Z
    Timestamp(seconds=253_402_300_799, nanos=999_999_999),  # rounds up past 9999-12-31
    Timestamp(seconds=-62_135_596_801),
    Timestamp(seconds=253_402_300_800),
    Timestamp(seconds=1, nanos=-1),
    Timestamp(seconds=1, nanos=1_000_000_000),
    Timestamp(seconds=2**63 - 1, nanos=2**31 - 1),
)


def page_tokens() -> st.SearchStrategy[str]:
    positions = st.integers(0, 10) | st.sampled_from((2**63, 10**30, -1))
    valid = positions.map(lambda p: base64.urlsafe_b64encode(f"p{p}".encode()).decode())
    return valid | st.sampled_from(("p1", "=", "cA==", "c" * 64, "c" * 65))


def static_hints() -> Hints:
    """Values every server knows, whatever it holds."""
    digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
    return {
        "service_code": st.sampled_from([e.code for e in ServiceCatalogue.load().entries()]),
        "currency": st.sampled_from(("EUR", "USD", "XXX", "eur", "")),
        "minor_units": st.integers(0, 10**6) | st.sampled_from((-1, 10**15, 10**15 + 1)),
        "documents": digests | digests.map(str.upper),
        "kinds": st.sampled_from(KINDS),
        "statuses": st.sampled_from(STATUSES),
        "since": st.sampled_from(TIMES),
        "until": st.sampled_from(TIMES),
        "page_token": page_tokens(),
        "page_size": st.integers(0, 600),
        "totp_code": st.from_regex(r"[0-9]{6}", fullmatch=True),
        "code": st.from_regex(r"[0-9]{6}", fullmatch=True),
        "recovery_code": st.from_regex(r"[a-z0-9]{4}-[a-z0-9]{4}", fullmatch=True),
        "method": st.sampled_from(METHODS),
        "birth_date": st.dates().map(str) | st.sampled_from(("1985-02-30", "1985-4-1")),
        "email": st.emails() | st.just("not-an-address"),
        "idempotency_key": st.sampled_from(("fz-0", "fz-1", "fz-new", "fz-b", "key with space")),
        "purpose": st.sampled_from(("tax audit", "case review")),
        "reason": st.sampled_from(("routine check", "documents complete")),
        "note": st.sampled_from(("", "scanned at the counter")),
        "label": st.sampled_from(("", "phone", "laptop")),
        "evidence": st.sampled_from(("", "passport at the counter")),
        "version": st.integers(1, 12),
        "index": st.integers(0, 40),
        "tree_size": st.integers(0, 40),
        "from_size": st.integers(0, 40),
        "to_size": st.integers(0, 40),
        "from_index": st.integers(0, 40),
        "to_index": st.integers(0, 40),
        "after_position": st.integers(0, 60),
    }


def world_hints(
    *,
    citizen_ids: list[str],
    transaction_ids: list[str],
    attempt_ids: list[str],
    session_ids: list[str],
    authenticator_ids: list[str],
    registration_ids: list[str],
    tokens: list[str],
    streams: list[str],
    national_identifiers: list[str],
    passwords: list[str],
    credential_json: list[str],
    assertion_json: list[str],
) -> Hints:
    """The static hints, and values from a seeded server."""
    fresh_ids = st.text("0123456789ABCDEF-", min_size=4, max_size=12).map(lambda s: f"FZ-{s}")
    return {
        **static_hints(),
        "citizen_id": st.sampled_from(citizen_ids),
        "transaction_id": st.sampled_from(transaction_ids),
        "attempt_id": st.sampled_from(attempt_ids),
        "session_id": st.sampled_from(session_ids),
        "authenticator_id": st.sampled_from(authenticator_ids),
        "registration_id": st.sampled_from(registration_ids),
        "token": st.sampled_from(tokens) | st.sampled_from(tokens).map(lambda t: t[:-2] + "AA"),
        # Issue 13: the citizen's own proof, relayed with a change to their authenticators.
        "citizen_token": st.sampled_from(tokens),
        "stream": st.sampled_from(streams),
        "national_identifier": st.sampled_from(national_identifiers) | fresh_ids,
        "password": st.sampled_from(passwords),
        "credential_json": _json_documents(credential_json),
        "passkey_assertion_json": _json_documents(assertion_json),
    }


def _json_documents(documents: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(documents) | st.sampled_from(documents).flatmap(mutated_json)


@st.composite
def mutated_json(draw: st.DrawFn, text: str) -> str:
    """The document with a few members replaced by other JSON values, or removed."""
    document = json.loads(text)
    paths = list(_paths(document))
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        parent = document
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if draw(st.booleans()):
            parent[path[-1]] = draw(json_values)
        else:
            del parent[path[-1]]
    return json.dumps(document)


def _paths(value: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        return []
    found = []
    for key, member in value.items():
        found.append((*prefix, key))
        found.extend(_paths(member, (*prefix, key)))
    return found


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, hints: Hints, depth: int = 0) -> Message:
    message = message_factory.GetMessageClass(descriptor)()
    # At most one member of each oneof (a proto3 `optional` is a oneof of one: set or not).
    chosen = {
        oneof.name: draw(st.sampled_from([None, *oneof.fields]), label=oneof.name)
        for oneof in descriptor.oneofs
    }
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen[oneof.name] is not field:
            continue
        if oneof is None and not draw(st.integers(0, 7), label=f"set {field.name}?"):
            continue
        _set(message, field, draw, hints, depth)
    return message


def _set(
    message: Message, field: FieldDescriptor, draw: st.DrawFn, hints: Hints, depth: int
) -> None:
    target = getattr(message, field.name)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for _ in range(draw(st.integers(0, 3))):
            key = draw(_values(key_field, hints, depth))
            value = draw(_values(value_field, hints, depth))
            if value_field.type == F.TYPE_MESSAGE:
                target[key].CopyFrom(value)
            else:
                target[key] = value
    elif field.is_repeated:
        many = draw(st.integers(0, 9), label=f"long {field.name}?") == 0
        size = st.integers(40, 60) if many else st.integers(0, 4)
        values = [draw(_values(field, hints, depth)) for _ in range(draw(size))]
        if field.type == F.TYPE_MESSAGE:
            for value in values:
                target.add().CopyFrom(value)
        else:
            target.extend(values)
    elif field.type == F.TYPE_MESSAGE:
        target.CopyFrom(draw(_values(field, hints, depth)))
    else:
        setattr(message, field.name, draw(_values(field, hints, depth)))


def _values(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Any]:
    generic = _generic(field, hints, depth)
    hint = hints.get(field.name)
    if hint is None:
        return generic
    return st.one_of(hint, hint, hint, generic)  # three in four: deep enough, still broad


def _generic(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == F.TYPE_STRING:
        return strings
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=64) | st.sampled_from((b"", b"\x00" * 4096))
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-(2**31), 2**31 - 1)
    if kind in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return st.floats(width=32 if kind == F.TYPE_FLOAT else 64)
    if kind == F.TYPE_MESSAGE:
        assert field.message_type is not None
        if depth >= MAX_DEPTH:
            return st.builds(message_factory.GetMessageClass(field.message_type))
        return messages(field.message_type, hints, depth + 1)
    low, high = INTEGER_RANGES[kind]
    edges = sorted({low, high, 0, 1, max(low, -1), high // 2 + 1, min(high, 2**53 + 1)})
    return st.sampled_from(edges) | st.integers(low, high)
