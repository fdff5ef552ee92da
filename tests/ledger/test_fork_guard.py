"""The sequencer never signs a fork of its own history (issue 15 item 1), on SQLite and PostgreSQL.

The attacks are an insider's with write access to the database but not to the keys folder:
truncate the log to an earlier checkpoint, or delete one entry, and wipe the tree so that the
sequencer rebuilds it. Either way the rebuilt tree does not extend the checkpoint remembered
beside the keys, and nothing is signed until an operator re-anchors, which the log records.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from civitas.config import operator_actor
from civitas.node import Node
from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.errors import InvalidInput, Unavailable
from ledger.fork_guard import (
    STATE_FILE,
    CheckpointStateFile,
    ForkGuard,
    SignedTree,
    fork_problem,
    parse_signed_tree,
)
from ledger.merkle import CompactRange, leaf_hash
from ledger.sequencer import SequencerService
from tests.civitas.server_process import civitas
from tests.ledger.insider import delete_leaf, roll_back
from tests.ledger.test_sequencer import write_accounts


def sequenced(node: Node) -> SequencerService:
    service = node.sequencer()
    assert service.catch_up(node.store.recorder.max_notification_id())
    return service


def remembered(node: Node) -> int:
    state = CheckpointStateFile(node.config.keys_dir).read()
    assert state is not None
    return state.size


def test_every_signature_is_remembered_beside_the_keys(node: Node) -> None:
    state = CheckpointStateFile(node.config.keys_dir)
    assert state.read() is None  # a ledger from before the file: the first signature writes it
    write_accounts(node, 3)
    sequenced(node)
    latest = node.audit.latest_checkpoint()
    assert (node.config.keys_dir / STATE_FILE).read_text() == latest.note
    assert (node.config.keys_dir / STATE_FILE).stat().st_mode & 0o777 == 0o600
    write_accounts(node, 2, "more")
    sequenced(node)
    assert remembered(node) == 5


def test_a_rolled_back_log_is_never_signed(node: Node) -> None:
    """The revocation of a service account is rolled away: its key would work again, but the
    sequencer refuses to sign the shorter history, and says so until an operator re-anchors."""
    write_accounts(node, 3)
    node.accounts.revoke("acct-1", "left the agency", actor="cli:test")
    sequenced(node)
    assert remembered(node) == 4
    roll_back(node, 3)
    write_accounts(node, 1, "later")  # the log grows again past the remembered size

    service = sequenced(node)
    assert service.guard is not None
    assert service.guard.halted_reason is not None
    assert "does not extend" in service.guard.halted_reason
    with pytest.raises(Unavailable):
        node.audit.latest_checkpoint()  # the wiped table gets no new checkpoint
    assert remembered(node) == 4


def test_a_shorter_tree_is_a_fork_too(node: Node, database_url: str) -> None:
    write_accounts(node, 4)
    sequenced(node)
    roll_back(node, 2)
    service = sequenced(node)
    assert service.guard is not None
    assert "rolled back" in (service.guard.halted_reason or "")
    assert remembered(node) == 4
    # The operator's foreground sequencer says so and fails.
    ran = civitas(node.config.data_dir, database_url, "sequence", "--until-caught-up", check=False)
    assert ran.returncode == 1
    assert "refusing to sign" in ran.stderr
    assert "REFUSING TO SIGN" in ran.stderr  # the CRITICAL log line


def test_an_entry_deleted_mid_log_is_never_signed(node: Node) -> None:
    write_accounts(node, 5)
    sequenced(node)
    delete_leaf(node, 2)
    write_accounts(node, 2, "later")  # 6 entries: longer than the 5 signed, but not their extension
    service = sequenced(node)
    assert service.guard is not None
    assert "does not extend" in (service.guard.halted_reason or "")
    assert remembered(node) == 5


def test_re_anchoring_is_a_ledger_event_and_lets_the_sequencer_sign_again(node: Node) -> None:
    write_accounts(node, 4)
    sequenced(node)
    old_note = node.audit.latest_checkpoint().note
    roll_back(node, 2)
    assert sequenced(node).guard.halted_reason is not None  # type: ignore[union-attr]

    done = node.log_anchors.re_anchor(
        node.fork_guard(),
        node.log_view,
        node.checkpoint_signer,
        reason="restored from last night's backup after a disk failure",
        operator="ops-on-call",
        actor=operator_actor(),
    )
    assert (done.old_size, done.new_size) == (4, 2)
    service = sequenced(node)
    assert service.guard is not None
    assert service.guard.halted_reason is None
    latest = node.audit.latest_checkpoint()
    assert latest.tree_size == 3 == remembered(node)  # the re-anchor event itself is signed

    entry = next(node.audit.entries(2, 3))
    header = json.loads(entry.entry)
    assert header["type"] == "ledger.LogAnchor.ReAnchored"
    assert entry.payload is not None
    payload = json.loads(entry.payload)
    assert payload["old_checkpoint"] == old_note
    assert (payload["old_size"], payload["new_size"]) == (4, 2)
    assert base64.b64decode(payload["new_root"]) == done.new_root
    assert payload["reason"].startswith("restored")
    assert payload["operator"] == "ops-on-call"


def test_a_re_anchor_states_why(node: Node) -> None:
    with pytest.raises(InvalidInput) as raised:
        node.log_anchors.re_anchor(
            node.fork_guard(),
            node.log_view,
            node.checkpoint_signer,
            reason="  ",
            operator="ops",
            actor="cli:test",
        )
    assert [v.field for v in raised.value.violations] == ["reason"]
    assert node.store.recorder.max_notification_id() in (None, 0)


def test_two_leaders_never_move_the_remembered_checkpoint_back(tmp_path: Path) -> None:
    """A stale leader's smaller tree is refused, and the larger one stays remembered."""
    folder = tmp_path / "keys"
    signer = NoteSigner("o", Ed25519PrivateKey.generate())
    leaves = [leaf_hash(bytes([i])) for i in range(6)]
    trees = [_tree_of(leaves[:size]) for size in range(7)]
    guard = ForkGuard(CheckpointStateFile(folder), "o")

    def signing(size: int) -> str | None:
        tree, nodes = trees[size]
        checkpoint = Checkpoint("o", tree.size, tree.root())
        return guard.sign_if_consistent(
            _Stored(nodes), tree, lambda: sign_checkpoint(checkpoint, signer)
        )

    assert signing(6) is not None
    assert signing(6) is not None  # the same tree again is no fork
    state = CheckpointStateFile(folder).read()
    assert state is not None
    assert state.size == 6
    assert parse_signed_tree(state.note).root_hash == trees[6][0].root()
    assert signing(4) is None  # a smaller tree is refused outright
    assert guard.halted_reason is not None
    assert signing(6) is not None
    assert guard.halted_reason is None


def _tree_of(leaves: list[bytes]) -> tuple[CompactRange, dict[tuple[int, int], bytes]]:
    stored: dict[tuple[int, int], bytes] = {}
    tree = CompactRange()
    for value in leaves:
        tree, nodes = tree.append(value)
        stored.update({(n.level, n.index): n.hash for n in nodes})
    return tree, stored


class _Stored:
    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self._nodes = nodes

    def node(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]


@given(
    leaves=st.lists(st.binary(min_size=1, max_size=3), min_size=1, max_size=40),
    data=st.data(),
)
def test_a_tree_extends_the_remembered_one_exactly_when_it_keeps_its_leaves(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """The invariant: the guard lets a tree be signed iff its first `m` leaves are the `m` the
    remembered checkpoint covered (any change, removal or shortening is refused)."""
    m = data.draw(st.integers(1, len(leaves)), label="remembered size")
    old, _ = _tree_of([leaf_hash(v) for v in leaves[:m]])
    anchor = SignedTree("o", m, old.root(), "")
    later = data.draw(st.lists(st.binary(min_size=1, max_size=3), max_size=10), label="later")
    edited = list(leaves[:m]) + later
    if data.draw(st.booleans(), label="tamper"):
        at = data.draw(st.integers(0, len(edited) - 1), label="where")
        how = data.draw(st.sampled_from(["change", "delete"]), label="how")
        if how == "change":
            edited[at] = edited[at] + b"!"
        else:
            del edited[at]
    tree, nodes = _tree_of([leaf_hash(v) for v in edited])
    keeps = len(edited) >= m and edited[:m] == leaves[:m]
    assert (fork_problem(anchor, "o", _Stored(nodes), tree) == "") == keeps
