"""What auditors may read: checkpoints, proofs, the entries in leaf order, the public keyring."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from ledger.envelope import unpack
from ledger.errors import InvalidInput, OutOfRange, Unavailable
from ledger.keyring import PublicKeyring
from ledger.log_recorder import MerkleLogRecorder, StoredCheckpoint
from ledger.merkle import consistency_proof, inclusion_proof
from ledger.sequencer import CHECKPOINT_INTERVAL_SECONDS


@dataclass(frozen=True)
class PublishedEntry:
    """One leaf as an auditor receives it (the export bundle's `entries.jsonl` line)."""

    index: int
    entry: bytes
    signature: bytes
    payload: bytes | None

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "entry": self.entry.decode(),
            "signature": base64.b64encode(self.signature).decode(),
            "payload": None if self.payload is None else base64.b64encode(self.payload).decode(),
        }


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]


class AuditLog:
    def __init__(
        self,
        view: MerkleLogRecorder,
        keyring: Callable[[], PublicKeyring],
        checkpoint_interval: float = CHECKPOINT_INTERVAL_SECONDS,
        witnesses: tuple[str, ...] = (),
        witness_threshold: int = 0,
    ) -> None:
        self._view = view
        self._keyring = keyring
        # The log's own witness policy (verifier keys, k): which checkpoint counts as witnessed.
        self._witnesses = witnesses
        self._witness_threshold = witness_threshold
        # How long until the sequencer signs what is stored now: a caller asking too early is
        # told to retry after this (RetryInfo), not that it cannot be done.
        self.checkpoint_interval = checkpoint_interval

    def keyring(self) -> PublicKeyring:
        return self._keyring()

    def latest_checkpoint(self, covering: int = 0) -> StoredCheckpoint:
        """The newest checkpoint the witness policy is met for, if it covers `covering` leaves,
        else the newest signed one; with the witnesses' cosignature lines (docs/witnesses.md)."""
        checkpoint = self._newest_witnessed(covering) or self._view.latest_checkpoint()
        if checkpoint is None:
            raise Unavailable(
                "no checkpoint has been signed yet",
                reason="NOT_YET_SEQUENCED",
                retry_after=self.checkpoint_interval,
            )
        return self._with_cosignatures(checkpoint)

    def _newest_witnessed(self, covering: int) -> StoredCheckpoint | None:
        if not self._witnesses:
            return None
        size = self._view.newest_cosigned(self._witnesses, self._witness_threshold)
        if size is None or size < covering:
            return None
        return self._view.checkpoint_of_size(size)

    def _with_cosignatures(self, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
        lines = self._view.cosignatures(checkpoint.tree_size)
        if not lines:
            return checkpoint
        return replace(checkpoint, note=checkpoint.note + "".join(lines.values()))

    def checkpoints(self, up_to_size: int) -> Iterator[StoredCheckpoint]:
        return map(self._with_cosignatures, self._view.iter_checkpoints(up_to_size))

    def inclusion_proof(self, index: int, tree_size: int = 0) -> InclusionProof:
        size = tree_size or self.latest_checkpoint().tree_size
        self._check_size(size, "tree_size")
        if not 0 <= index < size:
            raise InvalidInput.of("index", f"must be at least 0 and below tree_size ({size})")
        leaf = self._view.nodes([(0, index)])[(0, index)]
        return InclusionProof(index, size, leaf, inclusion_proof(self._view, index, size))

    def consistency_proof(self, from_size: int, to_size: int = 0) -> tuple[int, list[bytes]]:
        """The proof from `from_size` to `to_size` (0: the latest checkpoint), and that size."""
        size = to_size or self.latest_checkpoint().tree_size
        self._check_size(size, "to_size")
        if not 0 < from_size <= size:
            raise InvalidInput.of("from_size", f"must be between 1 and to_size ({size})")
        return size, consistency_proof(self._view, from_size, size)

    def entries(self, from_index: int, to_index: int = 0) -> Iterator[PublishedEntry]:
        stop = to_index or self._view.tree_size()
        if from_index > stop:
            raise InvalidInput.of("from_index", f"must not exceed to_index ({stop})")
        self._check_size(stop, "to_index")
        for leaf in self._view.iter_leaves(from_index, stop):
            signed = unpack(leaf.stream, leaf.topic, leaf.version, leaf.state)
            yield PublishedEntry(leaf.index, signed.entry_bytes, signed.signature, signed.payload)

    def receipt(self, index: int) -> dict[str, object]:
        """One entry with everything needed to check it offline (docs/ledger-format.md section
        7): the entry, its signature and payload, an inclusion proof against the latest
        checkpoint, that checkpoint, and the public keyring."""
        checkpoint = self.latest_checkpoint(covering=index + 1)
        proof = self.inclusion_proof(index, checkpoint.tree_size)
        entry = next(self.entries(index, index + 1))
        keyring = self.keyring()
        return {
            "origin": keyring.origin,
            **entry.to_json(),
            "inclusion_proof": [base64.b64encode(h).decode() for h in proof.hashes],
            "checkpoint": checkpoint.note,
            "keyring": keyring.to_json(),
        }

    def _check_size(self, size: int, field: str) -> None:
        current = self._view.tree_size()
        if size > current:
            raise OutOfRange(
                f"{field} {size} is past the end of the log ({current} entries)",
                reason="PAST_END_OF_LOG",
            )
