"""Where the sequencer keeps the Merkle tree: leaves, perfect-subtree nodes and checkpoints.

A tracking recorder of `eventsourcing`, so the sequencer's position in the notification log is
written in the same transaction as the leaves and nodes it appended: after a crash at any
moment the tree and the position agree, and no entry is skipped or appended twice.

Node (level, index) is the hash of the complete subtree over leaves [index·2^level,
(index+1)·2^level); level 0 holds the leaf hashes. Storing every complete subtree costs about
two hashes per leaf and makes any root or proof a handful of O(log n) lookups.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from ledger.merkle import Node
from ledger.store import NamedSQLiteTracking, PostgresView

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


class MerkleLogRecorder(TrackingRecorder, ABC):
    @abstractmethod
    def tree_size(self) -> int:
        """Number of leaves appended so far."""

    @abstractmethod
    def append(
        self,
        first_index: int,
        notification_ids: Sequence[int],
        nodes: Sequence[Node],
        tracking: Tracking,
    ) -> None:
        """Record leaves [first_index, first_index + len(ids)) and their completed nodes."""

    @abstractmethod
    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The stored hashes of the given complete subtrees."""

    def node(self, level: int, index: int) -> bytes:
        found = self.nodes([(level, index)])
        if (level, index) not in found:
            raise KeyError((level, index))
        return found[(level, index)]

    @abstractmethod
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...

    @abstractmethod
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    @abstractmethod
    def checkpoints(self, above: int, up_to: int, limit: int) -> list[StoredCheckpoint]:
        """Checkpoints with above < tree size <= up_to, smallest tree first, at most `limit`."""

    def iter_checkpoints(self, up_to: int, batch: int = 1000) -> Iterator[StoredCheckpoint]:
        """Every checkpoint up to a tree size, a page at a time (two are signed a second)."""
        above = -1
        while chunk := self.checkpoints(above, up_to, batch):
            yield from chunk
            above = chunk[-1].tree_size

    @abstractmethod
    def leaf_index_of(self, notification_id: int) -> int | None:
        """The leaf an event became, or None while it is not sequenced yet."""

    @abstractmethod
    def leaves(self, start: int, stop: int, limit: int) -> list[LogLeaf]:
        """Leaves with start <= index < stop, in order, at most `limit` of them."""

    def iter_leaves(self, start: int, stop: int, batch: int = 1000) -> Iterator[LogLeaf]:
        while start < stop:
            chunk = self.leaves(start, stop, batch)
            if not chunk:
                return
            yield from chunk
            start = chunk[-1].index + 1


class SQLiteMerkleLogRecorder(NamedSQLiteTracking, MerkleLogRecorder):
    tracking_table = "sequencer_tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS merkle_leaves ("
            "leaf_index INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL UNIQUE)",
            "CREATE TABLE IF NOT EXISTS merkle_nodes ("
            "level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
            "PRIMARY KEY (level, idx)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS checkpoints ("
            "tree_size INTEGER PRIMARY KEY, root_hash BLOB NOT NULL, note TEXT NOT NULL)",
        ]

    def tree_size(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT MAX(leaf_index) FROM merkle_leaves")
            highest = c.fetchone()[0]
        return 0 if highest is None else int(highest) + 1

    def append(
        self,
        first_index: int,
        notification_ids: Sequence[int],
        nodes: Sequence[Node],
        tracking: Tracking,
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT INTO merkle_leaves VALUES (?, ?)",
                [(first_index + i, nid) for i, nid in enumerate(notification_ids)],
            )
            c.executemany(
                "INSERT INTO merkle_nodes VALUES (?, ?, ?)",
                [(n.level, n.index, n.hash) for n in nodes],
            )
            self._insert_tracking(c, tracking)

    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        # One indexed lookup per key in one transaction: a proof needs O(log n) keys, and a
        # row-value IN (VALUES ...) made SQLite scan the whole table (benchmarks/history.py).
        found: dict[NodeKey, bytes] = {}
        with self.datastore.transaction(commit=False) as c:
            for level, index in keys:
                c.execute(
                    "SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?", (level, index)
                )
                row = c.fetchone()
                if row is not None:
                    found[(level, index)] = bytes(row[0])
        return found

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO checkpoints VALUES (?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
                (checkpoint.tree_size, checkpoint.root_hash, checkpoint.note),
            )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1")
            row = c.fetchone()
        return None if row is None else StoredCheckpoint(row[0], bytes(row[1]), row[2])

    def checkpoints(self, above: int, up_to: int, limit: int) -> list[StoredCheckpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT * FROM checkpoints WHERE tree_size > ? AND tree_size <= ? "
                "ORDER BY tree_size LIMIT ?",
                (above, up_to, limit),
            )
            return [StoredCheckpoint(row[0], bytes(row[1]), row[2]) for row in c.fetchall()]

    def leaf_index_of(self, notification_id: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT leaf_index FROM merkle_leaves WHERE notification_id = ?", (notification_id,)
            )
            row = c.fetchone()
        return None if row is None else int(row[0])

    def leaves(self, start: int, stop: int, limit: int) -> list[LogLeaf]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT l.leaf_index, l.notification_id, e.originator_id, e.originator_version, "
                "e.topic, e.state FROM merkle_leaves l "
                "JOIN stored_events e ON e.rowid = l.notification_id "
                "WHERE l.leaf_index >= ? AND l.leaf_index < ? ORDER BY l.leaf_index LIMIT ?",
                (start, stop, limit),
            )
            return [
                LogLeaf(row[0], row[1], str(UUID(row[2])), row[3], row[4], bytes(row[5]))
                for row in c.fetchall()
            ]


class PostgresMerkleLogRecorder(PostgresView, MerkleLogRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(
            datastore,
            "CREATE TABLE IF NOT EXISTS {schema}.merkle_leaves ("
            "leaf_index bigint PRIMARY KEY, notification_id bigint NOT NULL UNIQUE)",
            "CREATE TABLE IF NOT EXISTS {schema}.merkle_nodes ("
            "level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, "
            "PRIMARY KEY (level, idx))",
            "CREATE TABLE IF NOT EXISTS {schema}.checkpoints ("
            "tree_size bigint PRIMARY KEY, root_hash bytea NOT NULL, note text NOT NULL)",
            **kwargs,
        )

    def tree_size(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT MAX(leaf_index) AS m FROM {schema}.merkle_leaves"))
            row = c.fetchone()
        return 0 if row is None or row["m"] is None else int(row["m"]) + 1

    def append(
        self,
        first_index: int,
        notification_ids: Sequence[int],
        nodes: Sequence[Node],
        tracking: Tracking,
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self.sql(
                    "INSERT INTO {schema}.merkle_leaves "
                    "SELECT * FROM unnest(%s::bigint[], %s::bigint[])"
                ),
                (list(range(first_index, first_index + len(notification_ids))), notification_ids),
            )
            c.execute(
                self.sql(
                    "INSERT INTO {schema}.merkle_nodes "
                    "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
                ),
                ([n.level for n in nodes], [n.index for n in nodes], [n.hash for n in nodes]),
            )
            self._insert_tracking(c, tracking)

    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        with self.datastore.transaction(commit=False) as c:
            c.execute(  # a join on the keys, so the primary key index serves each one
                self.sql(
                    "SELECT n.level, n.idx, n.hash FROM {schema}.merkle_nodes n JOIN "
                    "unnest(%s::smallint[], %s::bigint[]) AS k(level, idx) "
                    "ON n.level = k.level AND n.idx = k.idx"
                ),
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
            return {(row["level"], row["idx"]): bytes(row["hash"]) for row in c.fetchall()}

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self.sql(
                    "INSERT INTO {schema}.checkpoints VALUES (%s, %s, %s) "
                    "ON CONFLICT (tree_size) DO NOTHING"
                ),
                (checkpoint.tree_size, checkpoint.root_hash, checkpoint.note),
            )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql("SELECT * FROM {schema}.checkpoints ORDER BY tree_size DESC LIMIT 1")
            )
            row = c.fetchone()
        return None if row is None else _checkpoint(row)

    def checkpoints(self, above: int, up_to: int, limit: int) -> list[StoredCheckpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {schema}.checkpoints WHERE tree_size > %s AND tree_size <= %s "
                    "ORDER BY tree_size LIMIT %s"
                ),
                (above, up_to, limit),
            )
            return [_checkpoint(row) for row in c.fetchall()]

    def leaf_index_of(self, notification_id: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT leaf_index FROM {schema}.merkle_leaves WHERE notification_id = %s"
                ),
                (notification_id,),
            )
            row = c.fetchone()
        return None if row is None else int(row["leaf_index"])

    def leaves(self, start: int, stop: int, limit: int) -> list[LogLeaf]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT l.leaf_index, l.notification_id, e.originator_id, "
                    "e.originator_version, e.topic, e.state FROM {schema}.merkle_leaves l "
                    "JOIN {schema}.{events} e ON e.notification_id = l.notification_id "
                    "WHERE l.leaf_index >= %s AND l.leaf_index < %s "
                    "ORDER BY l.leaf_index LIMIT %s"
                ),
                (start, stop, limit),
            )
            return [
                LogLeaf(
                    row["leaf_index"],
                    row["notification_id"],
                    str(row["originator_id"]),
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )
                for row in c.fetchall()
            ]


def _checkpoint(row: Mapping[str, Any]) -> StoredCheckpoint:
    return StoredCheckpoint(row["tree_size"], bytes(row["root_hash"]), row["note"])
