"""The sequencer: follows the notification log into the Merkle tree and signs checkpoints.

It is an `eventsourcing` projection run by a `ProjectionRunner`: the runner's subscription
delivers every stored event in commit order (also those written by other processes), and the
sequencer's view is a tracking recorder, so leaves, nodes and position commit together.

Leaves are buffered and written in batches (one transaction per batch, not per leaf): a kill
loses only the uncommitted batch, which the next run reads again from the tracked position.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Tracking
from eventsourcing.projection import Projection, ProjectionRunner

from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.envelope import unpack
from ledger.fork_guard import ForkGuard
from ledger.leader import LeaderLock, lead_while_running
from ledger.log_recorder import MerkleLogRecorder, StoredCheckpoint
from ledger.merkle import CompactRange, Node, leaf_hash
from ledger.store import LOG_NAME

FLUSH_BATCH = 2000
TICK_SECONDS = 0.1
CHECKPOINT_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """What the sequencer sees of a stored event: only the signed entry bytes."""

    notification_id: int
    entry: bytes


class EntryReader(Mapper[UUID]):
    """Reads notifications as raw entries: the tree commits to the bytes, not their meaning."""

    def __init__(self) -> None:
        super().__init__(transcoder=JSONTranscoder())

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        notification_id = getattr(stored_event, "id", 0)
        signed = unpack(
            stored_event.originator_id,
            stored_event.topic,
            stored_event.originator_version,
            stored_event.state,
        )
        return LoggedEntry(notification_id, signed.entry_bytes)


class LedgerLog(Application[UUID]):
    """The notification log as the sequencer reads it."""

    name = LOG_NAME

    def construct_mapper(self) -> Mapper[UUID]:
        return EntryReader()


class Sequencer(Projection[MerkleLogRecorder]):
    name = "sequencer"

    def __init__(self, view: MerkleLogRecorder) -> None:
        super().__init__(view)
        self._lock = threading.Lock()
        self._durable = CompactRange.load(view, view.tree_size())
        self._tree = self._durable
        self._pending_ids: list[int] = []
        self._pending_nodes: list[Node] = []
        self._pending_tracking: Tracking | None = None

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        assert isinstance(domain_event, LoggedEntry)
        with self._lock:
            self._tree, completed = self._tree.append(leaf_hash(domain_event.entry))
            self._pending_ids.append(tracking.notification_id)
            self._pending_nodes.extend(completed)
            self._pending_tracking = tracking
            if len(self._pending_ids) >= FLUSH_BATCH:
                self._flush_locked()

    def flush(self) -> CompactRange:
        """Commit buffered leaves; returns the tree as it now stands in the database."""
        with self._lock:
            self._flush_locked()
            return self._durable

    def _flush_locked(self) -> None:
        if self._pending_tracking is None:
            return
        self.view.append(
            self._durable.size, self._pending_ids, self._pending_nodes, self._pending_tracking
        )
        self._durable = self._tree
        self._pending_ids, self._pending_nodes, self._pending_tracking = [], [], None


class CheckpointWriter:
    """Signs a checkpoint for the durable tree whenever it has grown, and only when the tree
    extends the last checkpoint this log signed (`ForkGuard`)."""

    def __init__(
        self,
        view: MerkleLogRecorder,
        origin: str,
        signer: Callable[[], NoteSigner],
        guard: ForkGuard | None = None,
    ) -> None:
        self._view = view
        self._origin = origin
        self._signer = signer
        self._guard = guard
        latest = view.latest_checkpoint()
        self.size = latest.tree_size if latest else -1

    def write(self, tree: CompactRange) -> StoredCheckpoint | None:
        # Nothing new to sign: unless the guard has not yet checked this tree against what it
        # remembers (a restart on a rolled-back database), or is halted (a re-anchor may have
        # lifted it), or the tree is smaller than the database's latest checkpoint.
        guard = self._guard
        unchanged = tree.size == self.size and (guard is None or guard.trusts_signed_tree)
        if unchanged or (tree.size < self.size and guard is None):
            return None
        root_hash = tree.root()
        checkpoint = Checkpoint(self._origin, tree.size, root_hash)

        def sign() -> str:
            return sign_checkpoint(checkpoint, self._signer())

        note = sign() if guard is None else guard.sign_if_consistent(self._view, tree, sign)
        if note is None:
            return None
        stored = StoredCheckpoint(tree.size, root_hash, note)
        self._view.add_checkpoint(stored)
        self.size = tree.size
        return stored


@dataclass(frozen=True)
class SequencerSettings:
    persistence_env: dict[str, str]
    view_class: type[MerkleLogRecorder]
    origin: str
    checkpoint_signer: Callable[[], NoteSigner]
    leader_lock: LeaderLock
    checkpoint_interval: float = CHECKPOINT_INTERVAL_SECONDS
    retry_interval: float = 1.0
    guard: ForkGuard | None = None  # None only in tests of the tree alone


class SequencerService:
    """Runs the sequencer in a background thread while this process holds the leader lock."""

    def __init__(self, settings: SequencerSettings) -> None:
        self._settings = settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self.is_leader = threading.Event()
        self.guard = settings.guard

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        lead_while_running(
            self._settings.leader_lock,
            self._stopping,
            self._sequence_while_leader,
            name="sequencer",
            retry_interval=self._settings.retry_interval,
            leading=self.is_leader,
        )

    def catch_up(self, target_notification_id: int | None, timeout: float = 60.0) -> bool:
        """Sequence in the foreground until the log up to `target_notification_id` is in a
        signed checkpoint; False when another process holds the leader lock."""
        lock = self._settings.leader_lock
        if not lock.try_acquire():
            return False
        try:
            deadline = time.monotonic() + timeout
            self._sequence_while_leader(
                lambda position: (
                    (position or 0) >= (target_notification_id or 0) or time.monotonic() > deadline
                )
            )
        finally:
            lock.release()
        return True

    def _sequence_while_leader(self, done: Callable[[int | None], bool] | None = None) -> None:
        settings = self._settings
        runner: ProjectionRunner[LedgerLog, MerkleLogRecorder]
        with ProjectionRunner(
            application_class=LedgerLog,
            projection_class=Sequencer,
            view_class=settings.view_class,
            env=settings.persistence_env,
        ) as runner:
            sequencer = runner.projection
            assert isinstance(sequencer, Sequencer)
            checkpoints = CheckpointWriter(
                runner.view, settings.origin, settings.checkpoint_signer, settings.guard
            )
            last_checkpoint = -math.inf  # the first checkpoint is due at once, whatever the uptime
            while not self._stopping.is_set() and settings.leader_lock.still_held():
                runner.run_forever(timeout=TICK_SECONDS)
                tree = sequencer.flush()
                caught_up = done is not None and done(runner.view.max_tracking_id(LOG_NAME))
                due = time.monotonic() - last_checkpoint >= settings.checkpoint_interval
                if (due or caught_up) and checkpoints.write(tree):
                    last_checkpoint = time.monotonic()
                if caught_up:
                    return
            if self._stopping.is_set() and settings.leader_lock.still_held():
                checkpoints.write(sequencer.flush())  # a clean stop leaves nothing unsigned
