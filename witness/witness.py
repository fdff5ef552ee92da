"""The add-checkpoint decision of C2SP tlog-witness, apart from HTTP.

Checks, in the order the spec gives its answers: the origin is known (404), a trusted log key
signed it (403), the old size is not above the new (400), the old size is the one this witness
cosigned last (409, with that size), the proof links the two trees (422); then the new tree is
stored durably and only then cosigned (200). The check and the store happen under one lock, so
two requests can never roll the stored tree back.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from witness.merkle import EMPTY_ROOT, ProofError, verify_consistency
from witness.note import (
    Checkpoint,
    Cosigner,
    LogKey,
    NoteError,
    b64decode_strict,
    signed_by,
    split_checkpoint_note,
)
from witness.state import Cosigned, StateError, StateStore

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
# A test hook: the process kills itself at this point of a cosigning, as a power cut would.
CRASH_VARIABLE = "CIVITAS_WITNESS_CRASH"
CRASH_POINTS = ("before-state", "after-state")
_OLD = re.compile(r"old (0|[1-9][0-9]*)")

log = logging.getLogger("civitas.witness")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def _refuse(status: int, why: str) -> Answer:
    return Answer(status, why + "\n")


@dataclass(frozen=True, slots=True)
class _Request:
    old_size: int
    proof: list[bytes]
    checkpoint: Checkpoint
    signatures: list[tuple[str, bytes, bytes]]


def _parse(body: bytes) -> _Request:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the request is not UTF-8") from None
    header, blank, note = text.partition("\n\n")
    if not blank:
        raise NoteError("the request needs an old size line, proof lines and a blank line")
    lines = header.split("\n")
    match = _OLD.fullmatch(lines[0])
    if match is None:
        raise NoteError("the first line must be `old <size>`")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise NoteError(f"more than {MAX_PROOF_LINES} proof lines")
    proof = [b64decode_strict(line) for line in lines[1:]]
    if any(len(node) != 32 for node in proof):
        raise NoteError("a proof line is not a 32-byte hash")
    checkpoint, signatures = split_checkpoint_note(note)
    return _Request(int(match.group(1)), proof, checkpoint, signatures)


class Witness:
    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, list[LogKey]],
        state: StateStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cosigner = cosigner
        self._logs = dict(logs)
        self._state = state
        self._clock = clock
        self._lock = threading.Lock()
        self._crash_at = os.environ.get(CRASH_VARIABLE, "")

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = _parse(body)
        except NoteError as error:
            return _refuse(400, f"malformed request: {error}")
        checkpoint = request.checkpoint
        keys = self._logs.get(checkpoint.origin)
        if keys is None:
            return _refuse(404, f"unknown log origin {checkpoint.origin!r}")
        if not signed_by(checkpoint, request.signatures, keys):
            return _refuse(403, "no valid signature by a trusted key of this log")
        if request.old_size > checkpoint.size:
            return _refuse(400, "the old size is larger than the checkpoint's")
        with self._lock:
            try:
                return self._check_and_cosign(request)
            except (StateError, OSError) as error:
                # A damaged state or a full disk: never cosign on a guess about what was cosigned.
                log.error("cannot read or store the state of %s: %s", checkpoint.origin, error)
                return _refuse(500, "the witness cannot read or store its state")

    def _check_and_cosign(self, request: _Request) -> Answer:
        checkpoint = request.checkpoint
        held = self._state.load(checkpoint.origin) or Cosigned(0, EMPTY_ROOT)
        if request.old_size != held.size:
            return Answer(409, f"{held.size}\n", SIZE_CONTENT_TYPE)
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            return _refuse(422, "an empty tree has the SHA-256 of nothing as its root")
        if checkpoint.size == held.size:
            if request.proof:
                return _refuse(422, "equal sizes take an empty proof")
            if checkpoint.root != held.root:
                self._log_evidence(checkpoint, "a different tree of the size already cosigned")
                return _refuse(409, "a different tree of the size this witness already cosigned")
        elif held.size == 0:
            if request.proof:
                return _refuse(422, "a proof from the empty tree must be empty")
        else:
            try:
                verify_consistency(
                    held.size, checkpoint.size, held.root, checkpoint.root, request.proof
                )
            except ProofError as error:
                self._log_evidence(checkpoint, str(error))
                return _refuse(422, f"inconsistent with the tree cosigned before: {error}")
        self._crash_if("before-state")
        self._state.save(
            checkpoint.origin, Cosigned(checkpoint.size, checkpoint.root), checkpoint.text
        )
        self._crash_if("after-state")
        return Answer(200, self._cosigner.cosign(checkpoint.text, int(self._clock())))

    def _crash_if(self, point: str) -> None:
        if self._crash_at == point:
            os.kill(os.getpid(), signal.SIGKILL)

    @staticmethod
    def _log_evidence(checkpoint: Checkpoint, why: str) -> None:
        # A validly signed checkpoint that does not extend what was cosigned is evidence of a
        # fork or a rollback by the log: kept in the witness's log for its operator.
        log.warning(
            "REFUSED %s at size %d (%s): %r",
            checkpoint.origin,
            checkpoint.size,
            why,
            checkpoint.text,
        )
