"""What an insider does to the log, the way they would: straight in the tables of the database
(SQLite or PostgreSQL), with the server stopped. These are issue 15's attacks, which the
sequencer, the witnesses and `civitas-verify` must each catch: tests/ledger/test_fork_guard.py
(the sequencer alone), tests/civitas/test_insider_attacks.py (a running server with one witness)
and tests/civitas/test_witnessing.py (two witnesses, 2-of-2, against an insider with the keys).

An insider with the database alone leaves the keys folder's memory of the last signed checkpoint
in place, and the sequencer refuses to sign; one who holds the keys folder too removes it
(`forget_signed=True`), and against them only the witnesses and the auditors' stored state stand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from civitas.node import Node
from ledger.envelope import erase_payload
from ledger.fork_guard import STATE_FILE
from ledger.store import LOG_NAME
from tests.civitas.ledger_checks import open_node

TREE_TABLES = ("merkle_leaves", "merkle_nodes", "checkpoints", "checkpoint_cosignatures")


@contextmanager
def insider_node(data_dir: Path, database: str) -> Iterator[Node]:
    """The ledger as the insider opens it: the data folder and the database, with the server
    stopped or writing beside it."""
    node = open_node(data_dir, database)
    try:
        yield node
    finally:
        node.close()


def notification_of_leaf(node: Node, index: int) -> int:
    return node.log_view.leaves(index, index + 1, 1)[0].notification_id


def roll_back(
    node: Node, size: int, *, keep_checkpoints: bool = False, forget_signed: bool = False
) -> None:
    """Truncate the log to its first `size` entries. With `keep_checkpoints`, as a backup of that
    moment restored would: the tree cut to `size`, its checkpoints and cosignatures kept and the
    sequencer set back; without, the tree and every checkpoint wiped, so the sequencer rebuilds
    it from zero."""
    last = notification_of_leaf(node, size - 1)
    view = node.log_view
    with view.datastore.transaction(commit=False) as c:
        c.execute(view.sql("SELECT level, idx FROM {merkle_nodes}"))
        nodes = [(row["level"], row["idx"]) for row in c.fetchall()]
    with view.datastore.transaction(commit=True) as c:
        c.execute(view.sql("DELETE FROM {events} WHERE {notification_id} > ?"), (last,))
        if not keep_checkpoints:
            _wipe_tree(node, c)
        else:
            c.execute(view.sql("DELETE FROM {merkle_leaves} WHERE leaf_index >= ?"), (size,))
            for level, index in nodes:
                if (index + 1) << level > size:  # a node that covers a leaf now gone
                    c.execute(
                        view.sql("DELETE FROM {merkle_nodes} WHERE level = ? AND idx = ?"),
                        (level, index),
                    )
            for table in ("checkpoints", "checkpoint_cosignatures"):
                c.execute(view.sql(f"DELETE FROM {{{table}}} WHERE tree_size > ?"), (size,))
            c.execute(
                view.sql(
                    f"UPDATE {{{view.tracking_table_name}}} SET notification_id = ? "
                    "WHERE application_name = ?"
                ),
                (last, LOG_NAME),
            )
    if forget_signed:
        forget_the_signed_checkpoint(node)


def delete_entry(node: Node, index: int, *, forget_signed: bool = False) -> None:
    """Delete the event of leaf `index` and wipe the tree and its checkpoints, so the sequencer
    rebuilds and signs it anew without that entry."""
    doomed = notification_of_leaf(node, index)
    view = node.log_view
    with view.datastore.transaction(commit=True) as c:
        c.execute(view.sql("DELETE FROM {events} WHERE {notification_id} = ?"), (doomed,))
        _wipe_tree(node, c)
    if forget_signed:
        forget_the_signed_checkpoint(node)


def forget_the_signed_checkpoint(node: Node) -> None:
    """What an insider who holds the keys folder too does: remove the sequencer's memory of what
    it signed, so its guard has nothing to compare the rewritten tree with."""
    (node.config.keys_dir / STATE_FILE).unlink()


def _wipe_tree(node: Node, cursor: Any) -> None:
    view = node.log_view
    for table in TREE_TABLES:
        cursor.execute(view.sql(f"DELETE FROM {{{table}}}"))
    cursor.execute(
        view.sql(f"DELETE FROM {{{view.tracking_table_name}}} WHERE application_name = ?"),
        (LOG_NAME,),
    )


def leaf_of_type(node: Node, entry_type: str) -> tuple[int, str]:
    """The first leaf of an entry type, and its stream."""
    for entry in node.audit.entries(0):
        header = json.loads(entry.entry)
        if header["type"] == entry_type:
            return entry.index, str(header["stream"])
    raise LookupError(entry_type)


def lone_entry_between(node: Node, start: int, stop: int) -> int:
    """A leaf in [start, stop) whose stream has no other event: deleting it leaves no gap in
    any stream's versions, so only the tree can tell (as with the last decision on a case)."""
    leaves = node.log_view.leaves(0, node.log_view.tree_size(), 100_000)
    per_stream: dict[str, int] = {}
    for leaf in leaves:
        per_stream[leaf.stream] = per_stream.get(leaf.stream, 0) + 1
    return next(leaf.index for leaf in leaves[start:stop] if per_stream[leaf.stream] == 1)


def fake_erasure(node: Node, stream: str) -> int:
    """Replace every payload of a stream with the erased marker, as an erasure does, but with no
    `Erased` event; returns how many were replaced. The tree does not change (it hashes the
    payloads' digests, which an erasure keeps), so no witness can see this."""
    view = node.log_view
    key = view.dialect.param(UUID(stream))
    with view.datastore.transaction(commit=True) as c:
        c.execute(
            view.sql("SELECT originator_version, state FROM {events} WHERE originator_id = ?"),
            (key,),
        )
        rows = [(row["originator_version"], bytes(row["state"])) for row in c.fetchall()]
        for version, state in rows:
            c.execute(
                view.sql(
                    "UPDATE {events} SET state = ? "
                    "WHERE originator_id = ? AND originator_version = ?"
                ),
                (erase_payload(state), key, version),
            )
    return len(rows)


def edit_statistics(node: Node) -> None:
    """Flatter the figures: more successful password sign-ins, a case decided at once. The read
    model is outside the log: the tree does not change, so no witness can see this either."""
    view = node.statistics_view
    with view.datastore.transaction(commit=True) as c:
        c.execute(
            view.sql(
                "UPDATE {stats_auth_daily} SET count = count + 5 "
                "WHERE method = 'password' AND outcome = 'failure'"
            )
        )
        c.execute(
            view.sql(
                "UPDATE {stats_cases} SET decided_at = submitted_at WHERE transaction_id = "
                "(SELECT MIN(transaction_id) FROM {stats_cases} WHERE decided_at IS NOT NULL)"
            )
        )
