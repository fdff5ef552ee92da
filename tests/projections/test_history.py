"""History's input checks: numbers the databases cannot hold and long unknown kinds are refused
as InvalidInput naming the field, on SQLite and PostgreSQL. (Found by the RPC fuzz,
tests/civitas/test_fuzz.py: a uint64 version or position past 2^63 - 1 was an INTERNAL error,
and an unknown kind was quoted whole in the status, which then outgrew gRPC's trailers.)"""

from __future__ import annotations

import base64

import pytest

from civitas.node import Node
from ledger.errors import InvalidInput
from projections.history import MAX_POSITION
from tests.identity.conftest import REGISTRAR, person

ACTOR = "service:tax-portal"


def token(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode()


def field_of(error: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_positions_and_versions_past_64_bits_are_invalid_input(node: Node) -> None:
    citizen = node.identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    history = node.history
    with pytest.raises(InvalidInput) as raised:
        history.receipt(citizen, citizen, MAX_POSITION + 1)
    assert field_of(raised) == ["version"]
    with pytest.raises(InvalidInput) as raised:
        history.receipt(citizen, "", 2**64 - 1)
    assert field_of(raised) == ["stream", "version"]
    with pytest.raises(InvalidInput) as raised:
        history.watch_start(MAX_POSITION + 1, [])
    assert field_of(raised) == ["after_position"]
    for position in (MAX_POSITION + 1, 10**30):
        with pytest.raises(InvalidInput) as raised:
            history.list(citizen, [], None, None, 0, token(position))
        assert field_of(raised) == ["page_token"]
    # the largest position the databases hold is a valid cursor: past every item
    assert history.list(citizen, [], None, None, 0, token(MAX_POSITION)).items == []


def test_an_unknown_kind_is_named_briefly(node: Node) -> None:
    citizen = node.identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    with pytest.raises(InvalidInput) as raised:
        node.history.list(citizen, ["sign_in", "k" * 100_000], None, None, 0, "")
    assert field_of(raised) == ["kinds"]
    assert len(str(raised.value)) < 400  # the known kinds, and 40 characters of the input
    assert "k" * 40 in str(raised.value)
