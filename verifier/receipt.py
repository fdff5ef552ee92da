"""Verify a receipt: one entry, its inclusion proof and the signed checkpoint it proves against.

A citizen checks it offline. Everything needed is inside the receipt, including a keyring, which is
why the report says plainly when no key was pinned from outside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.audit import record_chunk
from verifier.canonical import b64decode_strict
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.keyring import KeyringError, keyring_from_json
from verifier.leaves import LeafChecker
from verifier.merkle import verify_inclusion
from verifier.note import NoteError
from verifier.report import Report
from verifier.trust import Anchors, Pins, resolve
from verifier.witnesses import judge

RECEIPT_KEYS = frozenset(
    {"origin", "index", "entry", "signature", "payload", "inclusion_proof", "checkpoint", "keyring"}
)
RECEIPT_CHECKS = (
    "receipt_format",
    "keyring",
    "entry_format",
    "signature",
    "key_window",
    "payload",
    "checkpoint_signature",
    "inclusion",
)


@dataclass(frozen=True, slots=True)
class Receipt:
    origin: str
    index: int
    entry: str
    signature: str
    payload: str | None
    inclusion_proof: list[str]
    checkpoint: str
    keyring: object


def parse_receipt(document: object) -> Receipt:
    """The receipt's fields with their types checked; ValueError says what is wrong."""
    if type(document) is not dict:
        raise ValueError("receipt is not a JSON object")
    if document.keys() != RECEIPT_KEYS:
        raise ValueError(f"receipt keys are {sorted(document)}, not {sorted(RECEIPT_KEYS)}")
    receipt = Receipt(**document)
    proof = receipt.inclusion_proof
    types_ok = (
        type(receipt.origin) is str
        and type(receipt.index) is int
        and receipt.index >= 0
        and type(receipt.entry) is str
        and type(receipt.signature) is str
        and (receipt.payload is None or type(receipt.payload) is str)
        and type(proof) is list
        and all(type(node) is str for node in proof)
        and type(receipt.checkpoint) is str
    )
    if not types_ok:
        raise ValueError("a receipt field has the wrong type")
    return receipt


def _decode(text: str | None, field: str) -> tuple[bytes | None, str]:
    if text is None:
        return None, ""
    try:
        return b64decode_strict(text), ""
    except ValueError as error:
        return b"", f"{field}: {error}"


def _checkpoint(receipt: Receipt, anchors: Anchors, report: Report) -> Checkpoint | None:
    check = report.check("checkpoint_signature")
    origin = anchors.keyring.origin
    if receipt.origin != origin:
        check.fail(f"receipt names log {receipt.origin!r}, expected {origin!r}", where="receipt")
        return None
    try:
        checkpoint = verify_checkpoint(receipt.checkpoint, anchors.verifiers, origin)
    except NoteError as error:
        check.fail(str(error), where="checkpoint")
        return None
    check.passed()
    return checkpoint


def _inclusion(receipt: Receipt, leaf: bytes, checkpoint: Checkpoint, report: Report) -> None:
    check = report.check("inclusion")
    try:
        proof = [b64decode_strict(node) for node in receipt.inclusion_proof]
        verify_inclusion(receipt.index, checkpoint.size, leaf, proof, checkpoint.root)
    except ValueError as error:  # ProofError is a ValueError, as are base64 errors
        check.fail(f"{error} (tree size {checkpoint.size:,})", index=receipt.index)
        return
    check.passed()


def verify_receipt(document: object, *, pins: Pins, subject: str) -> Report:
    report = Report("receipt", subject)
    for name in RECEIPT_CHECKS:
        report.check(name)
    try:
        receipt = parse_receipt(document)
    except ValueError as error:
        report.check("receipt_format").fail(str(error), where="receipt")
        return report
    report.check("receipt_format").passed()
    try:
        offered = keyring_from_json(receipt.keyring)
    except KeyringError as error:
        report.check("keyring").fail(str(error), where="receipt keyring")
        return report
    report.check("keyring").passed()
    anchors = resolve(offered, pins, "receipt")
    report.notes.extend(anchors.notes)
    signature, signature_error = _decode(receipt.signature, "signature")
    payload, payload_error = _decode(receipt.payload, "payload")
    record = (receipt.index, receipt.entry, signature or b"", payload)
    chunk = LeafChecker(anchors.keyring).check_record(
        receipt.index, record, signature_error=signature_error, payload_error=payload_error
    )
    record_chunk(report, chunk, skip=frozenset({"index"}))  # a lone entry has no position to check
    report.entries = 1
    checkpoint = _checkpoint(receipt, anchors, report)
    if checkpoint is not None:
        judge(receipt.checkpoint, pins.witnesses, report, "checkpoint")
        _inclusion(receipt, bytes(chunk.leaf_hashes), checkpoint, report)
    return report
