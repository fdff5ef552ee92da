"""What an insider with write access to the database (not to the keys folder) does to the log,
on SQLite and PostgreSQL alike: the attacks of issue 15."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from civitas.node import Node
from ledger.envelope import erase_payload


def _wipe_tree(node: Node, cursor: Any, keep_checkpoints_up_to: int) -> None:
    """Empty the tree and the sequencer's position (it rebuilds from zero); checkpoints above
    `keep_checkpoints_up_to` go too."""
    view = node.log_view
    for table in ("merkle_leaves", "merkle_nodes"):
        cursor.execute(view.sql(f"DELETE FROM {{{table}}}"))
    cursor.execute(
        view.sql("DELETE FROM {checkpoints} WHERE tree_size > ?"), (keep_checkpoints_up_to,)
    )
    cursor.execute(
        view.sql(f"DELETE FROM {{{view.tracking_table_name}}} WHERE application_name != ?"),
        (view.table_migration_identifier,),
    )


def notification_of_leaf(node: Node, leaf: int) -> int:
    view = node.log_view
    with view.datastore.transaction(commit=False) as c:
        c.execute(
            view.sql("SELECT notification_id FROM {merkle_leaves} WHERE leaf_index = ?"), (leaf,)
        )
        row = c.fetchone()
    assert row is not None
    return int(row["notification_id"])


def roll_back(node: Node, keep: int, *, keep_checkpoints: bool = False) -> None:
    """Truncate the log to its first `keep` entries and wipe the tree; with `keep_checkpoints`
    the checkpoints of up to `keep` entries stay (truncated to an auditor's earlier one)."""
    last_kept = notification_of_leaf(node, keep - 1)
    view = node.log_view
    with view.datastore.transaction(commit=True) as c:
        c.execute(view.sql("DELETE FROM {events} WHERE {notification_id} > ?"), (last_kept,))
        _wipe_tree(node, c, keep if keep_checkpoints else -1)


def delete_leaf(node: Node, leaf: int) -> None:
    """Delete one entry from the middle of the log and wipe the tree and its checkpoints."""
    doomed = notification_of_leaf(node, leaf)
    view = node.log_view
    with view.datastore.transaction(commit=True) as c:
        c.execute(view.sql("DELETE FROM {events} WHERE {notification_id} = ?"), (doomed,))
        _wipe_tree(node, c, -1)


def leaf_of_type(node: Node, entry_type: str) -> tuple[int, str]:
    """The first leaf of an entry type, and its stream."""
    for entry in node.audit.entries(0):
        header = json.loads(entry.entry)
        if header["type"] == entry_type:
            return entry.index, str(header["stream"])
    raise LookupError(entry_type)


def fake_erasure(node: Node, stream: str) -> int:
    """Replace every payload of a stream with the erased marker, as an erasure does; returns
    how many were replaced."""
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
