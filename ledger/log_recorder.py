"""Where the sequencer keeps the Merkle tree: leaves, perfect-subtree nodes and checkpoints.

A tracking recorder of `eventsourcing`, so the sequencer's position in the notification log is
written in the same transaction as the leaves and nodes it appended: after a crash at any
moment the tree and the position agree, and no entry is skipped or appended twice.

Node (level, index) is the hash of the complete subtree over leaves [index·2^level,
(index+1)·2^level); level 0 holds the leaf hashes. Storing every complete subtree costs about
two hashes per leaf and makes any root or proof a handful of O(log n) lookups.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from ledger.merkle import Node
from ledger.view import View

NodeKey = tuple[int, int]


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True)
class LogLeaf:
    index: int
    notification_id: int
    stream: str
    version: int
    topic: str
    state: bytes  # the stored envelope (see ledger/envelope.py)


class MerkleLogRecorder(View):
    def table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {merkle_leaves} ("
            "leaf_index {integer} PRIMARY KEY, notification_id {integer} NOT NULL UNIQUE)",
            "CREATE TABLE IF NOT EXISTS {merkle_nodes} ("
            "level {small} NOT NULL, idx {integer} NOT NULL, hash {bytes} NOT NULL, "
            "PRIMARY KEY (level, idx)){keyed_table}",
            "CREATE TABLE IF NOT EXISTS {checkpoints} ("
            "tree_size {integer} PRIMARY KEY, root_hash {bytes} NOT NULL, note {text} NOT NULL)",
            # Witnesses' cosignature lines (docs/witnesses.md), one per checkpoint and witness
            # (named by its verifier key): served after the checkpoint's own signature line.
            "CREATE TABLE IF NOT EXISTS {checkpoint_cosignatures} ("
            "tree_size {integer} NOT NULL, witness {text} NOT NULL, line {text} NOT NULL, "
            "PRIMARY KEY (tree_size, witness))",
        ]

    def tree_size(self) -> int:
        """Number of leaves appended so far."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT MAX(leaf_index) AS highest FROM {merkle_leaves}"))
            row = c.fetchone()
        return 0 if row is None or row["highest"] is None else int(row["highest"]) + 1

    def append(
        self,
        first_index: int,
        notification_ids: Sequence[int],
        nodes: Sequence[Node],
        tracking: Tracking,
    ) -> None:
        """Record leaves [first_index, first_index + len(ids)) and their completed nodes."""
        leaves = [(first_index + i, nid) for i, nid in enumerate(notification_ids)]
        with self.datastore.transaction(commit=True) as c:
            self.dialect.insert_rows(c, "merkle_leaves", ("integer", "integer"), leaves)
            self.dialect.insert_rows(
                c,
                "merkle_nodes",
                ("small", "integer", "bytes"),
                [(n.level, n.index, n.hash) for n in nodes],
            )
            self._insert_tracking(c, tracking)

    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The stored hashes of the given complete subtrees."""
        with self.datastore.transaction(commit=False) as c:
            rows = self.dialect.select_keys(
                c, "level, idx, hash", "merkle_nodes", {"level": "small", "idx": "integer"}, keys
            )
        return {(row["level"], row["idx"]): bytes(row["hash"]) for row in rows}

    def node_range(self, level: int, start: int, stop: int) -> list[bytes]:
        """The stored hashes of nodes (level, start) to (level, stop - 1), in order, in one
        query: a tlog-tiles hash tile (ledger/tiles.py). A node not stored is left out."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT hash FROM {merkle_nodes} WHERE level = ? AND idx >= ? AND idx < ? "
                    "ORDER BY idx"
                ),
                (level, start, stop),
            )
            return [bytes(row["hash"]) for row in c.fetchall()]

    def node(self, level: int, index: int) -> bytes:
        found = self.nodes([(level, index)])
        if (level, index) not in found:
            raise KeyError((level, index))
        return found[(level, index)]

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self.sql(
                    "INSERT INTO {checkpoints} VALUES (?, ?, ?) ON CONFLICT (tree_size) DO NOTHING"
                ),
                (checkpoint.tree_size, checkpoint.root_hash, checkpoint.note),
            )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT * FROM {checkpoints} ORDER BY tree_size DESC LIMIT 1"))
            row = c.fetchone()
        return None if row is None else _checkpoint(row)

    def checkpoints(self, above: int, up_to: int, limit: int) -> list[StoredCheckpoint]:
        """Checkpoints with above < tree size <= up_to, smallest tree first, at most `limit`."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {checkpoints} WHERE tree_size > ? AND tree_size <= ? "
                    "ORDER BY tree_size LIMIT ?"
                ),
                (above, up_to, limit),
            )
            return [_checkpoint(row) for row in c.fetchall()]

    def iter_checkpoints(self, up_to: int, batch: int = 1000) -> Iterator[StoredCheckpoint]:
        """Every checkpoint up to a tree size, a page at a time (two are signed a second)."""
        above = -1
        while chunk := self.checkpoints(above, up_to, batch):
            yield from chunk
            above = chunk[-1].tree_size

    def add_cosignature(self, tree_size: int, witness: str, line: str) -> None:
        """Keep a witness's cosignature line of the checkpoint of `tree_size`; a later one of the
        same checkpoint replaces it (its timestamp is newer: fresher evidence, same tree)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self.sql(
                    "INSERT INTO {checkpoint_cosignatures} VALUES (?, ?, ?) "
                    "ON CONFLICT (tree_size, witness) DO UPDATE SET line = excluded.line"
                ),
                (tree_size, witness, line),
            )

    def cosignatures(self, tree_size: int) -> dict[str, str]:
        """The cosignature lines of one checkpoint, by witness."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT witness, line FROM {checkpoint_cosignatures} WHERE tree_size = ? "
                    "ORDER BY witness"
                ),
                (tree_size,),
            )
            return {row["witness"]: row["line"] for row in c.fetchall()}

    def newest_cosigned(self, witnesses: Sequence[str], threshold: int) -> int | None:
        """The largest tree size cosigned by at least `threshold` of `witnesses`."""
        if not witnesses:
            return None
        with self.datastore.transaction(commit=False) as c:
            marks = self.dialect.marks(len(witnesses))  # placeholders only: values are parameters
            query = (
                "SELECT tree_size FROM {checkpoint_cosignatures} "  # noqa: S608 - placeholders
                f"WHERE witness IN ({marks}) GROUP BY tree_size HAVING COUNT(*) >= ? "
                "ORDER BY tree_size DESC LIMIT 1"
            )
            c.execute(self.sql(query), (*witnesses, threshold))
            row = c.fetchone()
        return None if row is None else int(row["tree_size"])

    def checkpoint_of_size(self, tree_size: int) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT * FROM {checkpoints} WHERE tree_size = ?"), (tree_size,))
            row = c.fetchone()
        return None if row is None else _checkpoint(row)

    def leaf_index_of(self, notification_id: int) -> int | None:
        """The leaf an event became, or None while it is not sequenced yet."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql("SELECT leaf_index FROM {merkle_leaves} WHERE notification_id = ?"),
                (notification_id,),
            )
            row = c.fetchone()
        return None if row is None else int(row["leaf_index"])

    def leaves(self, start: int, stop: int, limit: int) -> list[LogLeaf]:
        """Leaves with start <= index < stop, in order, at most `limit` of them."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT l.leaf_index, l.notification_id, e.originator_id, "
                    "e.originator_version, e.topic, e.state FROM {merkle_leaves} l "
                    "JOIN {events} e ON e.{notification_id} = l.notification_id "
                    "WHERE l.leaf_index >= ? AND l.leaf_index < ? ORDER BY l.leaf_index LIMIT ?"
                ),
                (start, stop, limit),
            )
            return [
                LogLeaf(
                    row["leaf_index"],
                    row["notification_id"],
                    str(UUID(str(row["originator_id"]))),  # SQLite stores the hex form
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )
                for row in c.fetchall()
            ]

    def iter_leaves(self, start: int, stop: int, batch: int = 1000) -> Iterator[LogLeaf]:
        while start < stop:
            chunk = self.leaves(start, stop, batch)
            if not chunk:
                return
            yield from chunk
            start = chunk[-1].index + 1


def _checkpoint(row: Mapping[str, Any]) -> StoredCheckpoint:
    return StoredCheckpoint(row["tree_size"], bytes(row["root_hash"]), row["note"])
