"""A signature this process made or checked is not checked again, and nothing else is skipped
(ledger/verified_entries.py, issue 14)."""

from __future__ import annotations

from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

import ledger.mapper
from civitas.node import Node
from ledger.accounts import account_id
from ledger.envelope import unpack
from ledger.keyring import EntryKey, verify_entry_signature
from ledger.mapper import SignedMapper, TamperedEntry
from ledger.verified_entries import VerifiedEntries

SIGNATURE, INPUT, KEY = b"s" * 64, b"entry bytes", b"k" * 32


def test_only_the_remembered_triple_is_known() -> None:
    verified = VerifiedEntries()
    verified.remember(SIGNATURE, INPUT, KEY)
    assert verified.known(SIGNATURE, INPUT, KEY)
    assert not verified.known(SIGNATURE, INPUT + b"!", KEY)  # other bytes under that signature
    assert not verified.known(SIGNATURE, INPUT, b"o" * 32)  # same key id, other key material
    assert not verified.known(b"t" * 64, INPUT, KEY)


@given(
    st.tuples(st.binary(max_size=8), st.binary(max_size=8), st.binary(max_size=8)),
    st.tuples(st.binary(max_size=8), st.binary(max_size=8), st.binary(max_size=8)),
)
def test_known_means_remembered_exactly(
    remembered: tuple[bytes, bytes, bytes], asked: tuple[bytes, bytes, bytes]
) -> None:
    verified = VerifiedEntries()
    verified.remember(*remembered)
    assert verified.known(*asked) == (asked == remembered)


def test_the_oldest_is_forgotten_first() -> None:
    verified = VerifiedEntries(capacity=2)
    for n in range(3):
        verified.remember(bytes([n]) * 64, INPUT, KEY)
    assert len(verified) == 2
    assert not verified.known(bytes([0]) * 64, INPUT, KEY)
    assert verified.known(bytes([2]) * 64, INPUT, KEY)


class CountingChecks:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0

        def counted(key: EntryKey, signature: bytes, signing_input: bytes) -> bool:
            self.count += 1
            return verify_entry_signature(key, signature, signing_input)

        monkeypatch.setattr(ledger.mapper, "verify_entry_signature", counted)


def _row(node: Node, originator: UUID) -> StoredEvent:
    (row,) = node.store.recorder.select_events(originator)
    return row


def test_an_entry_signed_here_is_read_without_a_second_check(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = CountingChecks(monkeypatch)
    node.accounts.create("reader", "auditor", actor="cli:test")
    row = _row(node, account_id("reader"))
    assert node.store.mapper.to_domain_event(row).originator_id == account_id("reader")
    assert checks.count == 0


def test_an_entry_from_elsewhere_is_checked_once(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    node.accounts.create("elsewhere", "auditor", actor="cli:test")
    row = _row(node, account_id("elsewhere"))
    checks = CountingChecks(monkeypatch)
    # A mapper with a memory of its own stands for another process reading the same row.
    other_process = SignedMapper(
        node.store.mapper.transcoder, node.signer, verified=VerifiedEntries()
    )
    other_process.to_domain_event(row)
    other_process.to_domain_event(row)
    assert checks.count == 1


def test_an_entry_signed_here_and_then_changed_is_refused(node: Node) -> None:
    node.accounts.create("changed", "auditor", actor="cli:test")
    row = _row(node, account_id("changed"))
    signed = unpack(row.originator_id, row.topic, row.originator_version, row.state)
    assert signed.payload is not None
    at = 3 + len("cli:test") + 20  # a byte of the entry's time
    changed = row.state[:at] + bytes([row.state[at] ^ 1]) + row.state[at + 1 :]
    with pytest.raises(TamperedEntry):
        node.store.mapper.to_domain_event(
            StoredEvent(row.originator_id, row.originator_version, row.topic, changed)
        )
