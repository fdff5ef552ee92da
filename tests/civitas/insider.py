"""What an insider with the database (and the server and its keys) can do to the log, done the
way they would: straight in the tables, with the server stopped, then started again."""

from __future__ import annotations

from civitas.node import Node
from ledger.store import LOG_NAME

TREE_TABLES = ("merkle_leaves", "merkle_nodes", "checkpoints", "checkpoint_cosignatures")


def _notification_of_leaf(node: Node, index: int) -> int:
    leaf = node.log_view.leaves(index, index + 1, 1)[0]
    return leaf.notification_id


def roll_back(node: Node, size: int) -> None:
    """Truncate the log to its first `size` entries, as a backup of that moment restored would:
    later events, leaves, nodes, checkpoints and cosignatures gone, the sequencer set back."""
    view = node.log_view
    last = _notification_of_leaf(node, size - 1)
    nodes = []
    with view.datastore.transaction(commit=False) as c:
        c.execute(view.sql("SELECT level, idx FROM {merkle_nodes}"))
        nodes = [(row["level"], row["idx"]) for row in c.fetchall()]
    with view.datastore.transaction(commit=True) as c:
        c.execute(view.sql("DELETE FROM {events} WHERE {notification_id} > ?"), (last,))
        c.execute(view.sql("DELETE FROM {merkle_leaves} WHERE leaf_index >= ?"), (size,))
        for level, index in nodes:
            if (index + 1) << level > size:
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


def delete_entry_and_rebuild(node: Node, index: int) -> None:
    """Delete the event of leaf `index` and wipe the tree, so the sequencer rebuilds and signs
    it anew without that entry (its stream holds no other event: the versions stay whole)."""
    view = node.log_view
    notification = _notification_of_leaf(node, index)
    with view.datastore.transaction(commit=True) as c:
        c.execute(view.sql("DELETE FROM {events} WHERE {notification_id} = ?"), (notification,))
        for table in TREE_TABLES:
            c.execute(view.sql(f"DELETE FROM {{{table}}}"))
        c.execute(
            view.sql(f"DELETE FROM {{{view.tracking_table_name}}} WHERE application_name = ?"),
            (LOG_NAME,),
        )


def lone_entry_between(node: Node, start: int, stop: int) -> int:
    """A leaf in [start, stop) whose stream has no other event: deleting it leaves no gap in
    any stream's versions, so only the tree can tell (as with the last decision on a case)."""
    leaves = node.log_view.leaves(0, node.log_view.tree_size(), 100_000)
    per_stream: dict[str, int] = {}
    for leaf in leaves:
        per_stream[leaf.stream] = per_stream.get(leaf.stream, 0) + 1
    return next(leaf.index for leaf in leaves[start:stop] if per_stream[leaf.stream] == 1)
