"""Re-anchoring: the operator's explicit, recorded decision to let the sequencer sign again.

When the sequencer finds that the tree no longer extends the checkpoint it last signed
(ledger/fork_guard.py), it stops signing. Only an operator lifts that, after finding out what
happened, with `civitas ledger re-anchor --reason ...`. The decision is itself a ledger event,
`ledger.LogAnchor.ReAnchored`, which records the checkpoint that was given up, the tree signed
from now on and why; every auditor sees it in the log. Then a checkpoint of the current tree is
signed and remembered in its place.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from eventsourcing.domain import event

from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.errors import FieldViolation, InvalidInput
from ledger.events import LedgerAggregate
from ledger.fork_guard import ForkGuard, ForkStateError
from ledger.log_recorder import MerkleLogRecorder, StoredCheckpoint
from ledger.merkle import CompactRange
from ledger.store import LedgerApplication

MAX_REASON = 1000
MAX_OPERATOR = 200


class LogAnchor(LedgerAggregate):
    """One re-anchoring of the log (each is a stream of its own, one event long)."""

    @event("ReAnchored")
    def __init__(
        self,
        old_checkpoint: str,
        old_size: int,
        new_size: int,
        new_root: str,
        reason: str,
        operator: str,
        actor: str,
    ) -> None:
        self.old_checkpoint = old_checkpoint  # the signed note given up ("" when none was kept)
        self.old_size = old_size  # its tree size (-1 when none was kept)
        self.new_size = new_size
        self.new_root = new_root  # base64 of the root of the tree at new_size
        self.reason = reason
        self.operator = operator


@dataclass(frozen=True)
class ReAnchored:
    old_size: int
    new_size: int
    new_root: bytes
    note: str  # the checkpoint signed for the new anchor


def _check(reason: str, operator: str) -> None:
    violations = []
    if not reason.strip() or len(reason) > MAX_REASON:
        violations.append(
            FieldViolation("reason", f"say why the log is re-anchored (1-{MAX_REASON} characters)")
        )
    if not operator.strip() or len(operator) > MAX_OPERATOR:
        violations.append(
            FieldViolation("operator", f"name who decided (1-{MAX_OPERATOR} characters)")
        )
    if violations:
        raise InvalidInput(violations)


class LogAnchors(LedgerApplication):
    def re_anchor(
        self,
        guard: ForkGuard,
        view: MerkleLogRecorder,
        signer: Callable[[], NoteSigner],
        *,
        reason: str,
        operator: str,
        actor: str,
    ) -> ReAnchored:
        """Record the re-anchoring, then sign the current tree and remember it. Held under the
        state file's lock, so a sequencer signs either before or after, never in between."""
        _check(reason, operator)
        with guard.state.locked():
            try:
                old = guard.state.read()
            except ForkStateError:
                old = None  # a damaged file is replaced; the event says nothing was kept
            size = view.tree_size()
            root = CompactRange.load(view, size).root()
            self.save(
                LogAnchor(
                    old.note if old else "",
                    old.size if old else -1,
                    size,
                    base64.b64encode(root).decode("ascii"),
                    reason.strip(),
                    operator.strip(),
                    actor=actor,
                )
            )
            note = sign_checkpoint(Checkpoint(guard.origin, size, root), signer())
            view.add_checkpoint(StoredCheckpoint(size, root, note))
            guard.state.replace(note)
        return ReAnchored(old.size if old else -1, size, root, note)
