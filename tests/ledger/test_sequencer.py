"""The sequencer turns the notification log into the Merkle tree, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from civitas.config import build_config
from civitas.node import Node
from ledger.accounts import ServiceAccount
from ledger.checkpoint import NoteVerifier, open_note, parse_checkpoint_text
from ledger.envelope import unpack
from ledger.leader import PostgresLeaderLock
from ledger.log_recorder import StoredCheckpoint
from ledger.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion
from tests.civitas.server_process import civitas_command


def write_accounts(node: Node, count: int, prefix: str = "acct", batch: int = 1) -> None:
    for start in range(0, count, batch):
        accounts = [
            ServiceAccount(f"{prefix}-{i}", "agency:test", "0" * 64, actor="cli:test")
            for i in range(start, min(count, start + batch))
        ]
        node.accounts.save(*accounts)


def reference_leaves(node: Node) -> list[bytes]:
    """Leaf hashes of every stored entry, in notification order: what the tree must hold."""
    notifications = node.store.recorder.select_notifications(start=1, limit=1_000_000)
    return [
        leaf_hash(unpack(n.originator_id, n.topic, n.originator_version, n.state).entry_bytes)
        for n in notifications
    ]


def test_tree_and_checkpoint_match_the_log(node: Node) -> None:
    write_accounts(node, 37)
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    leaves = reference_leaves(node)
    checkpoint = node.audit.latest_checkpoint()
    assert checkpoint.tree_size == len(leaves) == 37
    assert checkpoint.root_hash == root_from_leaf_hashes(leaves)

    verifier = NoteVerifier(node.signer.keyring.checkpoint_keys[-1])
    text = open_note(checkpoint.note, [verifier]).text
    parsed = parse_checkpoint_text(text)
    assert (parsed.origin, parsed.size, parsed.root_hash) == (
        "civitas.test/log",
        37,
        checkpoint.root_hash,
    )
    for index in (0, 1, 17, 36):
        proof = node.audit.inclusion_proof(index, 37)
        verify_inclusion(leaves[index], index, 37, proof.hashes, checkpoint.root_hash)


def test_later_writes_extend_the_tree_consistently(node: Node) -> None:
    write_accounts(node, 5, "first")
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    old = node.audit.latest_checkpoint()
    write_accounts(node, 9, "second")
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    new = node.audit.latest_checkpoint()
    assert new.tree_size == 14
    _, proof = node.audit.consistency_proof(old.tree_size, new.tree_size)
    verify_consistency(old.tree_size, new.tree_size, proof, old.root_hash, new.root_hash)
    entries = list(node.audit.entries(0))
    assert [e.index for e in entries] == list(range(14))


def test_sequencer_service_follows_writes_in_the_background(node: Node) -> None:
    service = node.sequencer()
    service.start()
    try:
        write_accounts(node, 12)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = node.log_view.latest_checkpoint()
            if latest and latest.tree_size == 12:
                break
            time.sleep(0.05)
        assert latest is not None
        assert latest.tree_size == 12
        assert latest.root_hash == root_from_leaf_hashes(reference_leaves(node))
    finally:
        service.stop()


def test_only_one_postgres_process_holds_the_sequencer_lock(postgres_schema_url: str) -> None:
    base = postgres_schema_url.split("?", maxsplit=1)[0]
    conninfo = base.replace("postgresql://", "postgresql://", 1)
    first = PostgresLeaderLock(conninfo, postgres_schema_url)
    second = PostgresLeaderLock(conninfo, postgres_schema_url)
    assert first.try_acquire()
    assert first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_sigkill_mid_stream_neither_skips_nor_repeats(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    node = Node(build_config(data_dir=str(data_dir), database=database_url, environ={}))
    node.initialise("civitas.test/log")
    node.upgrade_schema()
    write_accounts(node, 5000, batch=250)
    expected_root = root_from_leaf_hashes(reference_leaves(node))

    kills = 0
    for _ in range(3):  # kill it a few times at different points, as long as it is mid-stream
        process = subprocess.Popen(
            civitas_command(data_dir, database_url, "sequence", "--until-caught-up"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        start_size = node.log_view.tree_size()
        deadline = time.monotonic() + 30
        while (
            node.log_view.tree_size() == start_size
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        if process.poll() is None and node.log_view.tree_size() < 5000:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 1, "the sequencer finished before it could be killed"

    subprocess.run(
        civitas_command(data_dir, database_url, "sequence", "--until-caught-up"),
        check=True,
        timeout=120,
    )
    leaves = list(node.log_view.iter_leaves(0, 10_000))
    assert [leaf.index for leaf in leaves] == list(range(5000))
    assert len({leaf.notification_id for leaf in leaves}) == 5000
    assert node.audit.latest_checkpoint().tree_size == 5000
    assert node.audit.latest_checkpoint().root_hash == expected_root
    node.close()


@pytest.mark.parametrize("victim", ["leader"])
def test_another_postgres_replica_takes_over_when_the_sequencer_dies(
    tmp_path: Path, postgres_schema_url: str, victim: str
) -> None:
    data_dir = tmp_path / "data"
    node = Node(build_config(data_dir=str(data_dir), database=postgres_schema_url, environ={}))
    node.initialise("civitas.test/log")
    node.upgrade_schema()
    node.log_view  # noqa: B018 - create the tables before two processes race to do it
    write_accounts(node, 5, "before")
    processes = [
        subprocess.Popen(
            civitas_command(data_dir, postgres_schema_url, "sequence"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        _wait_for_checkpoint(node, 5, timeout=30)  # generous: CI runs many processes at once
        leader = _wait_for_leader(processes)
        os.kill(leader.pid, signal.SIGKILL)
        leader.wait()
        write_accounts(node, 7, "after")
        _wait_for_checkpoint(node, 12, timeout=30)
        assert node.audit.latest_checkpoint().root_hash == root_from_leaf_hashes(
            reference_leaves(node)
        )
    finally:
        for process in processes:
            process.kill()
            process.wait()
        node.close()


def _wait_for_checkpoint(node: Node, size: int, timeout: float = 30) -> None:
    wait_until(lambda: signed_size(node) >= size, timeout, f"a checkpoint of size {size}")


def _wait_for_leader(processes: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """The one process whose log says it became the sequencer (stderr is read line by line)."""
    import selectors

    selector = selectors.DefaultSelector()
    for process in processes:
        assert process.stderr is not None
        selector.register(process.stderr, selectors.EVENT_READ, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if "now the sequencer" in line:
                leader: subprocess.Popen[str] = key.data
                return leader
    raise AssertionError("no process became the sequencer")


def test_a_clean_stop_signs_a_checkpoint_over_every_leaf(tmp_path: Path) -> None:
    config = build_config(data_dir=str(tmp_path / "data"), environ={})
    node = Node(replace(config, checkpoint_interval=600))  # no periodic checkpoint will come
    node.initialise("civitas.test/log")
    service = node.sequencer()
    service.start()
    try:
        write_accounts(node, 3, "first")
        # The first checkpoint comes at once, over whatever the first tick had sequenced.
        wait_until(lambda: node.log_view.latest_checkpoint() is not None)
        first = signed_size(node)
        write_accounts(node, 5, "second")
        wait_until(lambda: node.log_view.tree_size() == 8)
        assert signed_size(node) == first < 8
    finally:
        service.stop()
    assert signed_size(node) == 8
    node.close()


def signed_size(node: Node) -> int:
    checkpoint = node.log_view.latest_checkpoint()
    return checkpoint.tree_size if checkpoint else 0


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what or 'success'} within {timeout} s"
        time.sleep(0.02)


def test_checkpoints_are_read_a_page_at_a_time_in_order(node: Node) -> None:
    """The export streams checkpoints as it streams entries: a long-lived log has millions."""
    view = node.log_view
    for size in range(1, 26):
        view.add_checkpoint(StoredCheckpoint(size, bytes(32), f"note {size}\n"))
    pages = view.iter_checkpoints(up_to=20, batch=7)
    assert [checkpoint.tree_size for checkpoint in pages] == list(range(1, 21))
    assert [c.note for c in view.checkpoints(above=5, up_to=25, limit=3)] == [
        "note 6\n",
        "note 7\n",
        "note 8\n",
    ]
