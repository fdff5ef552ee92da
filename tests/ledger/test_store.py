"""The signed event store on SQLite and PostgreSQL: every event is a verifiable signed entry."""

from __future__ import annotations

import hashlib
import sqlite3
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from civitas.node import Node
from ledger.accounts import ServiceAccount, account_id
from ledger.entry import SIGNATURE_CONTEXT, parse_entry
from ledger.envelope import unpack
from ledger.errors import Conflict, Unauthenticated
from ledger.mapper import PARALLEL_SIGNING_FROM, SignedMapper, TamperedEntry, UnattributedEvent


def stored_rows(node: Node, originator: UUID) -> list[StoredEvent]:
    return list(node.store.recorder.select_events(originator))


def test_every_stored_event_is_a_signed_canonical_entry(node: Node) -> None:
    node.accounts.create("tax-portal", "agency:tax", actor="cli:test")
    node.accounts.change_role("tax-portal", "auditor", actor="cli:test")
    rows = stored_rows(node, account_id("tax-portal"))
    assert [row.originator_version for row in rows] == [1, 2]
    for row in rows:
        signed = unpack(row.originator_id, row.topic, row.originator_version, row.state)
        entry = parse_entry(signed.entry_bytes)
        assert entry.stream == str(account_id("tax-portal"))
        assert entry.type == row.topic
        assert entry.actor == "cli:test"
        assert signed.payload is not None
        assert entry.payload_sha256 == hashlib.sha256(signed.payload).hexdigest()
        key = node.signer.keyring.entry_key(entry.kid)
        assert key is not None
        key.public_key.verify(signed.signature, SIGNATURE_CONTEXT + signed.entry_bytes)
    assert [row.topic for row in rows] == [
        "ledger.ServiceAccount.Created",
        "ledger.ServiceAccount.RoleChanged",
    ]


def test_a_large_save_signed_on_every_core_stores_the_same_entries(node: Node) -> None:
    count = PARALLEL_SIGNING_FROM + 36
    accounts = [
        ServiceAccount(f"bulk-{n}", "agency:test", "0" * 64, actor="cli:test") for n in range(count)
    ]
    node.accounts.save(*accounts)
    for n in (0, count // 2, count - 1):
        (row,) = stored_rows(node, account_id(f"bulk-{n}"))
        signed = node.store.mapper.open(row)  # checks the signature and the payload hash
        entry = parse_entry(signed.entry_bytes)
        assert (entry.stream, entry.version) == (str(account_id(f"bulk-{n}")), 1)
        assert node.accounts.find(f"bulk-{n}") is not None
    assert node.store.recorder.max_notification_id() == count


def test_a_one_event_save_keeps_the_recorders_contract(node: Node) -> None:
    """On SQLite one event is one INSERT that the database commits itself: a conflicting one
    still raises eventsourcing's IntegrityError and writes nothing, and no transaction is left
    open behind it."""
    node.accounts.create("single", "auditor", actor="cli:test")
    (row,) = stored_rows(node, account_id("single"))
    with pytest.raises(IntegrityError):
        node.store.recorder.insert_events([row])
    assert stored_rows(node, account_id("single")) == [row]
    node.accounts.save(
        *(ServiceAccount(f"pair-{n}", "auditor", "0" * 64, actor="cli:test") for n in (1, 2))
    )
    assert all(len(stored_rows(node, account_id(f"pair-{n}"))) == 1 for n in (1, 2))
    if not node.database.is_postgres:
        other = sqlite3.connect(node.database.sqlite_path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if a write were still open
        assert other.execute("SELECT COUNT(*) FROM stored_events").fetchone() == (3,)
        other.rollback()
        other.close()


def test_reading_back_rebuilds_the_aggregate(node: Node) -> None:
    issued = node.accounts.create("records", "agency:records", actor="cli:test")
    assert node.accounts.authenticate_key(issued.api_key).role == "agency:records"
    node.accounts.revoke("records", "left the programme", actor="cli:test")
    with pytest.raises(Unauthenticated):
        node.accounts.authenticate_key(issued.api_key)


def test_no_plain_api_key_is_stored(node: Node) -> None:
    issued = node.accounts.create("benefits", "agency:benefits", actor="cli:test")
    secret = issued.api_key.rsplit(".", 1)[1].encode()
    for row in stored_rows(node, account_id("benefits")):
        assert secret not in row.state


def test_a_duplicate_account_is_a_conflict_and_writes_nothing(node: Node) -> None:
    node.accounts.create("permits", "agency:permits", actor="cli:test")
    with pytest.raises(Conflict):
        node.accounts.create("permits", "admin", actor="cli:test")
    assert len(stored_rows(node, account_id("permits"))) == 1


def test_an_event_without_actor_cannot_be_stored(node: Node) -> None:
    account = ServiceAccount("nobody", "auditor", "0" * 64, actor="")
    with pytest.raises(UnattributedEvent):
        node.accounts.save(account)
    assert stored_rows(node, account_id("nobody")) == []


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 1]) + data[position + 1 :]


@pytest.mark.parametrize("part", ["actor", "timestamp", "signature", "payload"])
def test_a_changed_byte_is_refused_on_read(node: Node, part: str) -> None:
    node.accounts.create("tampered", "auditor", actor="cli:test")
    row = stored_rows(node, account_id("tampered"))[0]
    signed = unpack(row.originator_id, row.topic, row.originator_version, row.state)
    assert signed.payload is not None
    actor_at = 3  # after the marker and the actor's length
    position = {
        "actor": actor_at,
        "timestamp": actor_at + len("cli:test") + 20,
        "signature": len(row.state) - len(signed.payload) - 10,
        "payload": len(row.state) - 1,
    }[part]
    forged = StoredEvent(
        row.originator_id, row.originator_version, row.topic, _flip(row.state, position)
    )
    with pytest.raises(TamperedEntry):
        node.store.mapper.to_domain_event(forged)


def test_an_entry_moved_to_another_stream_is_refused(node: Node) -> None:
    node.accounts.create("moved", "auditor", actor="cli:test")
    row = stored_rows(node, account_id("moved"))[0]
    elsewhere = StoredEvent(account_id("other"), 1, row.topic, row.state)
    with pytest.raises(TamperedEntry):
        node.store.mapper.to_domain_event(elsewhere)


def test_verification_on_read_can_be_switched_off_for_speed(node: Node) -> None:
    node.accounts.create("fast-reader", "auditor", actor="cli:test")
    row = stored_rows(node, account_id("fast-reader"))[0]
    signed = unpack(row.originator_id, row.topic, row.originator_version, row.state)
    assert signed.payload is not None
    bad_signature = _flip(row.state, len(row.state) - len(signed.payload) - 1)
    forged = StoredEvent(row.originator_id, row.originator_version, row.topic, bad_signature)
    with pytest.raises(TamperedEntry):
        node.store.mapper.to_domain_event(forged)
    fast = SignedMapper(node.store.mapper.transcoder, node.signer, verify_on_read=False)
    assert fast.to_domain_event(forged).originator_id == account_id("fast-reader")
