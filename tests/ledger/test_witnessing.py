"""The log's side of witnessing, in process on SQLite and PostgreSQL: a feeder brings a witness
(the real `witness` package, over HTTP) up to the newest checkpoint, and the audit log serves the
newest checkpoint its own k-of-n policy is met for, with the cosignature lines."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from civitas.node import Node
from ledger.audit import AuditLog
from ledger.witnessing import Witness, WitnessFeeder, WitnessKey
from tests.ledger.test_sequencer import write_accounts
from witness.note import Cosigner, parse_log_key
from witness.server import WitnessServer
from witness.state import StateStore
from witness.witness import Witness as WitnessCore


@dataclass
class LocalWitness:
    cosigner: Cosigner
    server: WitnessServer

    @property
    def spec(self) -> Witness:
        url = f"http://127.0.0.1:{self.server.server_port}"
        return Witness(url, WitnessKey.parse(self.cosigner.verifier_key))


@pytest.fixture
def witnesses(node: Node, tmp_path: Path) -> Iterator[list[LocalWitness]]:
    log_key = parse_log_key(node.signer.keyring.checkpoint_keys[-1])
    running = []
    for number in (1, 2):
        cosigner = Cosigner(f"witness.test/w{number}", Ed25519PrivateKey.generate())
        core = WitnessCore(cosigner, {log_key.name: [log_key]}, StateStore(tmp_path / f"w{number}"))
        server = WitnessServer(("127.0.0.1", 0), core)
        threading.Thread(target=lambda s=server: s.serve_forever(0.02), daemon=True).start()
        running.append(LocalWitness(cosigner, server))
    yield running
    for witness in running:
        witness.server.shutdown()
        witness.server.server_close()


def sequenced(node: Node, count: int) -> int:
    write_accounts(node, count, prefix=f"w{count}")
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    latest = node.log_view.latest_checkpoint()
    assert latest is not None
    return latest.tree_size


def audit_log(node: Node, witnesses: list[LocalWitness], threshold: int) -> AuditLog:
    vkeys = tuple(w.cosigner.verifier_key for w in witnesses)
    return AuditLog(node.log_view, lambda: node.signer.keyring, 0.5, vkeys, threshold)


def feeder(node: Node, witness: LocalWitness) -> WitnessFeeder:
    return WitnessFeeder(node.log_view, witness.spec, leading=lambda: True)


def test_the_newest_checkpoint_meeting_the_policy_is_served_with_its_cosignatures(
    node: Node, witnesses: list[LocalWitness]
) -> None:
    first = sequenced(node, 3)
    feeders = [feeder(node, w) for w in witnesses]
    assert all(f.feed() for f in feeders)
    assert not any(f.feed() for f in feeders)  # nothing new: not sent again (until a refresh)
    second = sequenced(node, 5)
    assert feeders[0].feed()  # only the first witness has seen the second checkpoint

    two_of_two = audit_log(node, witnesses, 2).latest_checkpoint()
    assert two_of_two.tree_size == first
    assert two_of_two.note.count("\n\u2014 witness.test/w") == 2
    one_of_two = audit_log(node, witnesses, 1).latest_checkpoint()
    assert one_of_two.tree_size == second
    assert one_of_two.note.count("\n\u2014 witness.test/w1 ") == 1
    # A receipt of an entry past the witnessed checkpoint proves against the newest signed one.
    receipt = audit_log(node, witnesses, 2).receipt(second - 1)
    assert str(receipt["checkpoint"]).startswith(f"{node.signer.keyring.origin}\n{second}\n")
    # The witness that was behind catches up from the size it holds (a 409 tells it).
    assert feeders[1].feed()
    assert audit_log(node, witnesses, 2).latest_checkpoint().tree_size == second


def test_a_cosignature_by_another_key_is_not_kept(
    node: Node, witnesses: list[LocalWitness]
) -> None:
    sequenced(node, 2)
    impostor = Witness(witnesses[0].spec.url, witnesses[1].spec.key)  # w1 answers for w2
    with pytest.raises(ValueError, match="without a valid cosignature"):
        WitnessFeeder(node.log_view, impostor, leading=lambda: True).feed()
    assert audit_log(node, witnesses, 1).latest_checkpoint().note.count("\u2014") == 1
