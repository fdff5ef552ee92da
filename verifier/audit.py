"""The log-wide checks that need leaves in order: the Merkle tree and every stream's versions.

Memory: the tree is a compact range (O(log n) hashes). The version check keeps one entry per stream
(stream id -> last version seen), so it is O(number of streams), not O(entries); a log with a
million streams costs on the order of 100 MB there, which is the price of catching a missing or
duplicated event anywhere in the log in one pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from verifier.erasure import ErasureAudit, reanchor_notes
from verifier.leaves import ChunkResult
from verifier.merkle import HASH_SIZE, CompactRange
from verifier.report import Report


@dataclass(frozen=True, slots=True)
class Commitment:
    """A root the log is held to at a size: a bundle checkpoint, the latest or a trusted one."""

    size: int
    root: bytes
    check: str  # the report check that fails if the computed root differs
    where: str


class LogAudit:
    def __init__(self, report: Report, commitments: Iterable[Commitment]) -> None:
        self._report = report
        self._tree = CompactRange()
        self._last_version: dict[str, int] = {}
        self._due = deque(sorted(commitments, key=lambda commitment: commitment.size))
        self._erasure = ErasureAudit()
        self._reanchors: list[tuple[int, bytes | None]] = []
        self._compare_due()  # a checkpoint of the empty log is due before any leaf

    @property
    def size(self) -> int:
        return self._tree.size

    def root(self) -> bytes:
        return self._tree.root()

    def add(self, chunk: ChunkResult) -> None:
        """Fold one chunk of per-entry results, which must follow the previous chunk."""
        if chunk.start != self._tree.size:
            raise ValueError(f"chunk starts at {chunk.start}, expected {self._tree.size}")
        record_chunk(self._report, chunk)
        self._fold(chunk.leaf_hashes)
        self._check_versions(chunk.start, chunk.streams, chunk.versions)
        self._erasure.add(chunk.erased_entries, chunk.closings)
        self._reanchors.extend(chunk.reanchors)
        self._report.entries = self._tree.size

    def finish(self) -> None:
        """Commitments beyond the last leaf mean missing leaves: a truncated or rolled-back log.
        Erased payloads are judged now that every closing event has been seen."""
        self._erasure.finish(self._report)
        self._report.notes.extend(reanchor_notes(self._reanchors))
        while self._due:
            commitment = self._due.popleft()
            self._report.check(commitment.check).fail(
                f"commits to {commitment.size:,} entries but the log holds only "
                f"{self._tree.size:,}: entries are missing or the log was rolled back",
                where=commitment.where,
            )

    def _fold(self, leaf_hashes: bytes | bytearray) -> None:
        tree, offset, end = self._tree, 0, len(leaf_hashes)
        while self._due and self._due[0].size <= tree.size + (end - offset) // HASH_SIZE:
            cut = offset + (self._due[0].size - tree.size) * HASH_SIZE
            tree.extend(bytes(leaf_hashes[offset:cut]))
            offset = cut
            self._compare_due()
        tree.extend(bytes(leaf_hashes[offset:]))

    def _compare_due(self) -> None:
        while self._due and self._due[0].size == self._tree.size:
            commitment = self._due.popleft()
            check = self._report.check(commitment.check)
            if self._tree.root() == commitment.root:
                check.passed()
            else:
                check.fail(
                    f"root at size {commitment.size:,} differs from the root of the entries",
                    where=commitment.where,
                )

    def _check_versions(self, start: int, streams: list[str | None], versions: list[int]) -> None:
        check = self._report.check("stream_versions")
        last = self._last_version
        passed = 0
        for offset, stream in enumerate(streams):
            if stream is None:  # the entry did not parse; entry_format already failed it
                continue
            version = versions[offset]
            previous = last.get(stream, 0)
            if version == previous + 1:
                last[stream] = version
                passed += 1
                continue
            check.fail(_version_problem(stream, previous, version), index=start + offset)
            last[stream] = max(previous, version)  # one failure per fault, not one per later event
        check.passed(passed)


def record_chunk(report: Report, chunk: ChunkResult, skip: frozenset[str] = frozenset()) -> None:
    """Add a chunk's per-entry counts, failures and erasures to the report."""
    for name, count in chunk.checked.items():
        if name not in skip:
            report.check(name).passed(count)
    for name, position, reason in chunk.failures:
        if name not in skip:
            report.check(name).fail(reason, index=position)
    for position in chunk.erased:
        report.erased(position)


def _version_problem(stream: str, previous: int, version: int) -> str:
    if previous == 0:
        return f"stream {stream} starts at version {version}: its first events are missing"
    if version <= previous:
        return f"stream {stream}: version {version} after {previous} (duplicate or out of order)"
    return f"stream {stream}: version {version} after {previous} (versions in between missing)"
