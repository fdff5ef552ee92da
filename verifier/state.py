"""What civitas-verify remembers between runs: per origin, the latest checkpoint it verified.

A transparency log is only as good as the views others keep of it. An auditor who verified a
checkpoint of 1,000 entries yesterday must not accept a log of 900 today, or one whose first
1,000 entries changed, even when today's checkpoint is validly signed: that is a rollback or a
fork. So every run that passes stores its latest checkpoint (the signed note, as received), and
every later run holds the log to it: the entries' root at that size must equal it, and the
server must prove (RFC 9162 consistency proof, checked by verifier/merkle.py) that its latest
tree extends it. Consistency is transitive, so holding the latest stored one holds every
earlier one too.

The folder is ``$XDG_STATE_HOME/civitas-verify`` (else ``~/.local/state/civitas-verify``),
or ``--state-dir``; one file per origin, named after the origin's SHA-256, replaced atomically
and never by a smaller checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from verifier.checkpoint import Checkpoint, parse_checkpoint_text, verify_checkpoint
from verifier.note import NoteError
from verifier.report import Report
from verifier.trust import Anchors

STATE_VARIABLE = "XDG_STATE_HOME"
FOLDER_NAME = "civitas-verify"


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get(STATE_VARIABLE) or str(Path.home() / ".local" / "state")
    return Path(base) / FOLDER_NAME


def _unverified(note: str) -> Checkpoint:
    """The checkpoint of a stored note, its signature unchecked (the caller checks it)."""
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("not a signed note")
    return parse_checkpoint_text(note[: split + 1], note)


class VerifierState:
    """The folder of remembered checkpoints, one file per origin."""

    def __init__(self, folder: Path, *, forget: bool = False) -> None:
        """With `forget`, what was remembered is ignored and replaced by this run's checkpoint
        (``--forget-state``: after an auditor has read why the log was re-anchored)."""
        self.folder = folder
        self.forgetting = forget

    def path(self, origin: str) -> Path:
        return self.folder / f"{hashlib.sha256(origin.encode()).hexdigest()[:32]}.checkpoint"

    def load(self, origin: str) -> str | None:
        """The note remembered for `origin`, or None before the first passing run."""
        if self.forgetting:
            return None
        try:
            return self.path(origin).read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None

    def remember(self, origin: str, checkpoint: Checkpoint) -> bool:
        """Store `checkpoint` unless a larger one is remembered; True when it was stored."""
        stored = self.load(origin)
        if stored is not None:
            try:
                if _unverified(stored).size >= checkpoint.size:
                    return False
            except NoteError:
                pass  # a damaged file is replaced by a checkpoint that verified
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.folder / f".{secrets.token_hex(6)}.tmp"
        with temporary.open("wb") as file:
            file.write(checkpoint.note.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path(origin))
        return True


CHECK = "stored_checkpoint"


def remembered_checkpoint(
    state: VerifierState, anchors: Anchors, report: Report
) -> Checkpoint | None:
    """The checkpoint remembered for this log, verified under the keys in force (a failure of
    the `stored_checkpoint` check when it does not verify); None before the first run."""
    origin = anchors.keyring.origin
    note = state.load(origin)
    if note is None:
        report.notes.append(
            f"no checkpoint of {origin} was remembered in {state.folder}: this is the first run "
            "there, so nothing shows the log was not rolled back before it; later runs will"
        )
        return None
    try:
        return verify_checkpoint(note, anchors.verifiers, origin)
    except NoteError as error:
        report.check(CHECK).fail(
            f"the checkpoint remembered for this log does not verify under its keys: {error}",
            where=str(state.path(origin)),
        )
        return None


def remember_if_passed(
    state: VerifierState, anchors: Anchors, latest: Checkpoint | None, report: Report
) -> None:
    """Remember `latest` after a run where every check passed (never a failed run's)."""
    if latest is None or not report.ok:
        return
    if state.remember(anchors.keyring.origin, latest):
        report.notes.append(
            f"remembered the checkpoint of {latest.size:,} entries in {state.folder}: later runs "
            "hold the log to it"
        )
