"""Verify an export bundle folder: entries.jsonl, checkpoints/<size>.txt and keyring.json.

entries.jsonl is read line by line and checked in chunks on worker processes, so memory does not
grow with the log: the bounded chunks in flight, the O(log n) tree and one version per stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from verifier.audit import Commitment, LogAudit
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.keyring import Keyring, KeyringError, keyring_from_json
from verifier.leaves import check_lines_in_worker, init_worker
from verifier.note import NoteError, NoteVerifier
from verifier.parallel import ordered_map
from verifier.progress import Progress
from verifier.report import Report
from verifier.state import CHECK as STORED
from verifier.state import VerifierState, remember_if_passed, remembered_checkpoint
from verifier.trust import Anchors, Pins, resolve
from verifier.witnesses import judge

ENTRIES_FILE = "entries.jsonl"
KEYRING_FILE = "keyring.json"
CHECKPOINTS_DIR = "checkpoints"
# About 1.5 MB of lines: large enough that the hand-off to a worker is noise next to the ~0.6 s
# of signature checks in it, small enough that the 2 x jobs chunks in flight stay a few MB
# (2048 and 8192 measured no faster on 2 cores).
CHUNK_LINES = 4096

BUNDLE_CHECKS = (
    "keyring",
    "bundle_format",
    "index",
    "entry_format",
    "signature",
    "key_window",
    "payload",
    "stream_versions",
    "erasure",
    "checkpoint_signature",
    "checkpoint_root",
)


def read_text_exactly(path: Path) -> str:
    """A note must be read byte for byte: universal newlines would hide an inserted "\\r"."""
    return path.read_bytes().decode("utf-8")


def load_keyring(path: Path, report: Report) -> Keyring | None:
    try:
        keyring = keyring_from_json(json.loads(path.read_bytes()))
    except (KeyringError, ValueError) as error:
        report.check("keyring").fail(str(error), where=path.name)
        return None
    report.check("keyring").passed()
    return keyring


def verify_trusted_checkpoint(note: str, anchors: Anchors, report: Report) -> Commitment | None:
    """The checkpoint the auditor kept must itself verify before the log is held to it."""
    check = report.check("trusted_checkpoint")
    try:
        trusted = verify_checkpoint(note, anchors.verifiers, anchors.keyring.origin)
    except NoteError as error:
        check.fail(f"the trusted checkpoint does not verify: {error}", where="trusted checkpoint")
        return None
    return Commitment(trusted.size, trusted.root, "trusted_checkpoint", "trusted checkpoint")


def _load_checkpoints(
    folder: Path, verifiers: list[NoteVerifier], origin: str, report: Report
) -> list[Checkpoint]:
    check = report.check("checkpoint_signature")
    checkpoints: list[Checkpoint] = []
    paths = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    for path in paths:
        where = f"{CHECKPOINTS_DIR}/{path.name}"
        try:
            checkpoint = verify_checkpoint(read_text_exactly(path), verifiers, origin)
        except (NoteError, UnicodeDecodeError) as error:
            check.fail(str(error), where=where)
            continue
        if path.stem != str(checkpoint.size):
            check.fail(f"file name says size {path.stem}, the note {checkpoint.size}", where=where)
            continue
        check.passed()
        checkpoints.append(checkpoint)
    return checkpoints


class _LineChunks:
    """entries.jsonl as (first leaf, lines) chunks, counting bytes read for the progress line."""

    def __init__(self, path: Path, chunk_lines: int) -> None:
        self._path = path
        self._chunk_lines = chunk_lines
        self.size = max(path.stat().st_size, 1)
        self.bytes_read = 0

    def __iter__(self) -> Iterator[tuple[int, list[bytes]]]:
        start, chunk = 0, []
        with self._path.open("rb") as lines:
            for line in lines:
                chunk.append(line)
                self.bytes_read += len(line)
                if len(chunk) == self._chunk_lines:
                    yield start, chunk
                    start, chunk = start + len(chunk), []
        if chunk:
            yield start, chunk


def verify_bundle(
    folder: Path,
    *,
    pins: Pins,
    trusted_checkpoint: str | None = None,
    jobs: int = 1,
    chunk_lines: int = CHUNK_LINES,
    progress: Progress | None = None,
    state: VerifierState | None = None,
) -> Report:
    """Run every check on a bundle. Missing files raise OSError (the CLI's usage/IO error).
    With a `state`, the bundle is held to the checkpoint remembered there for its origin, and
    its latest checkpoint is remembered when every check passes."""
    entries_path = folder / ENTRIES_FILE
    if not entries_path.is_file():
        raise FileNotFoundError(f"{entries_path} is missing")
    report = Report("bundle", str(folder))
    for name in (*BUNDLE_CHECKS, *((STORED,) if state is not None else ())):
        report.check(name)
    offered = load_keyring(folder / KEYRING_FILE, report) or pins.keyring
    if offered is None:
        return report  # nothing to check signatures against; the keyring check says why
    anchors = resolve(offered, pins, "bundle")
    report.notes.extend(anchors.notes)
    checkpoints = _load_checkpoints(
        folder / CHECKPOINTS_DIR, anchors.verifiers, anchors.keyring.origin, report
    )
    if checkpoints:  # the newest must be witnessed: older ones may predate their cosigning
        newest = max(checkpoints, key=lambda c: c.size)
        judge(newest.note, pins.witnesses, report, f"{CHECKPOINTS_DIR}/{newest.size}.txt")
    commitments = [
        Commitment(c.size, c.root, "checkpoint_root", f"{CHECKPOINTS_DIR}/{c.size}.txt")
        for c in checkpoints
    ]
    if trusted_checkpoint is not None:
        trusted = verify_trusted_checkpoint(trusted_checkpoint, anchors, report)
        commitments += [trusted] if trusted else []
    stored = remembered_checkpoint(state, anchors, report) if state is not None else None
    if stored is not None:
        commitments.append(Commitment(stored.size, stored.root, STORED, "remembered checkpoint"))
    audit = LogAudit(report, commitments)
    progress = progress or Progress("verifying", None)
    chunks = _LineChunks(entries_path, chunk_lines)
    results = ordered_map(
        check_lines_in_worker,
        chunks,
        jobs=jobs,
        initializer=init_worker,
        initargs=(anchors.keyring,),
    )
    for result in results:
        audit.add(result)
        progress.update(audit.size, chunks.bytes_read / chunks.size)
    progress.close()
    audit.finish()
    _note_coverage(report, checkpoints, audit.size)
    if state is not None:
        latest = max(checkpoints, key=lambda checkpoint: checkpoint.size, default=None)
        _hold_to_stored(report, stored, latest)
        remember_if_passed(state, anchors, latest, report)
    return report


def _hold_to_stored(report: Report, stored: Checkpoint | None, latest: Checkpoint | None) -> None:
    """The bundle's latest checkpoint must not be older than the remembered one."""
    if stored is None:
        return
    if latest is None or latest.size < stored.size:
        size = 0 if latest is None else latest.size
        report.check(STORED).fail(
            f"the bundle's latest checkpoint covers {size:,} entries, but this verifier already "
            f"verified a checkpoint of {stored.size:,}: the log was rolled back",
            where=CHECKPOINTS_DIR,
        )


def _note_coverage(report: Report, checkpoints: list[Checkpoint], size: int) -> None:
    if not checkpoints:
        report.check("checkpoint_root").fail(
            "no valid checkpoint in the bundle commits to these entries", where=CHECKPOINTS_DIR
        )
        return
    covered = max(checkpoint.size for checkpoint in checkpoints)
    if covered < size:
        report.notes.append(
            f"entries {covered:,}..{size - 1:,} are signed but no checkpoint in the bundle covers "
            "them yet"
        )
