"""The sequencer's own memory of what it signed, so that it never signs a fork of its history.

The latest signed checkpoint is kept in a file beside the keys (``keys/latest-checkpoint.txt``,
shared by replicas like the keys), not in the database: an insider who can rewrite the database
(roll the log back, delete an entry and let the tree be rebuilt) cannot rewrite this file unless
they also hold the keys folder, and with the keys they could sign anything anyway (that is what
witnesses are for). Before each signature the sequencer proves, with the tree's own stored nodes,
that the new tree extends the remembered one (an RFC 9162 consistency proof, checked like an
auditor would); a tree that does not, or that is shorter, is a fork, and signing stops until an
operator re-anchors (`civitas ledger re-anchor`, itself a ledger event).

The file is replaced atomically (temporary file, fsync, rename, fsync of the folder) under a lock
file in the same folder, and never by a smaller tree: two replicas that both believe they lead
for a moment cannot move it backwards.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.checkpoint import CheckpointError, NoteError, parse_checkpoint_text
from ledger.leader import held_file_lock
from ledger.merkle import CompactRange, NodeReader, ProofError, consistency_proof
from ledger.merkle import verify_consistency as verify_tree_consistency

log = logging.getLogger(__name__)

STATE_FILE = "latest-checkpoint.txt"
STATE_LOCK_FILE = ".latest-checkpoint.lock"


class ForkStateError(Exception):
    """The checkpoint state file cannot be read: signing stops rather than guess."""


@dataclass(frozen=True)
class SignedTree:
    """A checkpoint this log signed: its size, root and the note exactly as signed."""

    origin: str
    size: int
    root_hash: bytes
    note: str


def parse_signed_tree(note: str) -> SignedTree:
    """The checkpoint in a signed note (the signatures are the sequencer's own: not rechecked)."""
    split = note.rfind("\n\n")
    if split < 0:
        raise ForkStateError("the checkpoint state file holds no signed note")
    try:
        checkpoint = parse_checkpoint_text(note[: split + 1])
    except (CheckpointError, NoteError) as error:
        raise ForkStateError(f"the checkpoint state file is damaged: {error}") from None
    return SignedTree(checkpoint.origin, checkpoint.size, checkpoint.root_hash, note)


class CheckpointStateFile:
    """``latest-checkpoint.txt`` in the keys folder: the latest checkpoint signed, as signed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / STATE_FILE

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state against other processes checking or writing it at the same time."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with held_file_lock(self.folder / STATE_LOCK_FILE):
            yield

    def read(self) -> SignedTree | None:
        """The remembered checkpoint; None before the first signature (or on a ledger from
        before this file existed: its first signature writes it)."""
        try:
            note = self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise ForkStateError(f"cannot read {self.path}: {error}") from None
        return parse_signed_tree(note)

    def replace(self, note: str) -> None:
        """Write the note atomically and durably: readers see the old file or the new one."""
        temporary = self.folder / f".{STATE_FILE}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(note.encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)


def fork_problem(
    anchor: SignedTree | None, origin: str, nodes: NodeReader, tree: CompactRange
) -> str:
    """Why `tree` is not an extension of the remembered checkpoint, or "" when it is."""
    if anchor is None:
        return ""
    if anchor.origin != origin:
        return f"the remembered checkpoint is of origin {anchor.origin!r}, this log is {origin!r}"
    if tree.size < anchor.size:
        return (
            f"the tree holds {tree.size:,} entries but this log already signed {anchor.size:,}: "
            "the log was rolled back or entries were deleted"
        )
    if anchor.size == 0:
        return ""  # every tree extends the empty one
    try:
        proof = consistency_proof(nodes, anchor.size, tree.size)
        verify_tree_consistency(anchor.size, tree.size, proof, anchor.root_hash, tree.root())
    except (ProofError, KeyError) as error:
        return (
            f"the tree of {tree.size:,} entries does not extend the checkpoint of {anchor.size:,} "
            f"this log signed ({error}): entries were changed, deleted or reordered"
        )
    return ""


class ForkGuard:
    """Lets the sequencer sign only trees that extend the last one it signed; else halts.

    While halted, `halted_reason` says why; `on_change` callbacks (the server's health) are told
    of every change. The guard rereads the state file at each attempt, so an operator's
    re-anchor, written by another process, lifts the halt at the next checkpoint.
    """

    def __init__(self, state: CheckpointStateFile, origin: str) -> None:
        self.state = state
        self.origin = origin
        self._halted: str | None = None
        self._confirmed = False  # a tree was found to extend the remembered checkpoint
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str | None], None]] = []

    @property
    def halted_reason(self) -> str | None:
        return self._halted

    @property
    def trusts_signed_tree(self) -> bool:
        """True once a tree passed the check in this process and nothing halted it since."""
        return self._confirmed and self._halted is None

    def on_change(self, listener: Callable[[str | None], None]) -> None:
        """Call `listener(reason)` when signing halts, and `listener(None)` when it resumes."""
        with self._lock:
            self._listeners.append(listener)
        listener(self._halted)

    def sign_if_consistent(
        self, nodes: NodeReader, tree: CompactRange, sign: Callable[[], str]
    ) -> str | None:
        """`sign()`'s note when `tree` extends the remembered checkpoint (which it then becomes),
        else None with signing halted."""
        with self.state.locked():
            try:
                anchor = self.state.read()
                problem = fork_problem(anchor, self.origin, nodes, tree)
            except ForkStateError as error:
                anchor, problem = None, str(error)
            if problem:
                self._confirmed = False
                self._set(problem)
                return None
            note = sign()
            if anchor is None or tree.size > anchor.size:  # never a smaller tree over a larger
                self.state.replace(note)
        self._confirmed = True
        self._set(None)
        return note

    def _set(self, reason: str | None) -> None:
        with self._lock:
            if reason == self._halted:
                return
            self._halted = reason
            listeners = list(self._listeners)
        if reason is not None:
            log.critical(
                "REFUSING TO SIGN: %s. This log's history changed under the sequencer; no "
                "checkpoint is signed until an operator investigates and runs "
                "`civitas ledger re-anchor --reason ...` (see docs/ledger-format.md, section 4).",
                reason,
            )
        else:
            log.warning("checkpoint signing resumed: the tree extends the remembered checkpoint")
        for listener in listeners:
            listener(reason)
