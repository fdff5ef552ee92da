"""C2SP tlog-checkpoint: the signed statement "this log, at this size, has this Merkle root"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from verifier.canonical import b64decode_strict
from verifier.merkle import HASH_SIZE
from verifier.note import NoteError, NoteVerifier, open_note

# tlog-checkpoint: the size is ASCII decimal without leading zeros, so one size has one spelling.
_SIZE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str


def parse_checkpoint_text(text: str, note: str = "") -> Checkpoint:
    """Parse the body ``<origin>\\n<size>\\n<base64 root>\\n[extension lines]`` of a checkpoint."""
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) < 4:
        raise NoteError("checkpoint body needs origin, size and root lines")
    lines = lines[:-1]
    if any(not line for line in lines):
        raise NoteError("checkpoint body holds an empty line")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size_text):
        raise NoteError(f"checkpoint size is not a decimal number: {size_text!r}")
    try:
        root = b64decode_strict(root_text)
    except ValueError as error:
        raise NoteError(f"checkpoint root: {error}") from None
    if len(root) != HASH_SIZE:
        raise NoteError(f"checkpoint root is {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin=origin, size=int(size_text), root=root, note=note)


def verify_checkpoint(
    note: str, verifiers: Sequence[NoteVerifier], expected_origin: str | None
) -> Checkpoint:
    """Verify a checkpoint note's signature and origin; raise NoteError if either is wrong.

    The origin check is what stops a validly signed checkpoint of another log (or another
    instance of this one) from standing in for this log's.
    """
    text, _ = open_note(note, verifiers)
    checkpoint = parse_checkpoint_text(text, note)
    if expected_origin is not None and checkpoint.origin != expected_origin:
        raise NoteError(
            f"checkpoint origin {checkpoint.origin!r} is not this log's {expected_origin!r}"
        )
    return checkpoint
