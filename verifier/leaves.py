"""Per-entry checks (format, index, key window, signature, payload) over chunks of the log.

These run in worker processes: Ed25519 verification is the cost that dominates (about 120 us of
the 145 us an entry costs on this project's 2-core machine), and it is independent per entry. A
chunk comes back as a compact ``ChunkResult`` (leaf hashes back to back, streams and versions as
lists), so the parent only folds hashes into the tree (measured 1.0 us per entry) and tracks
versions; hashing in the parent instead would mean parsing every line there too (5.3 us per entry)
on a core the workers need.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verifier.canonical import b64decode_strict
from verifier.entry import Entry, EntryError, parse_entry, signed_message
from verifier.erasure import CLOSING_TYPES, Marked
from verifier.keyring import EntryKey, Keyring
from verifier.merkle import leaf_hash

LINE_KEYS = frozenset({"index", "entry", "signature", "payload"})
# One leaf as the live stream delivers it: (index, entry text, signature, payload or None).
Record = tuple[int, str, bytes, bytes | None]


REANCHORED = "ledger.LogAnchor.ReAnchored"


# Per-entry checks in the order ChunkResult counts them; a list of ints is cheaper to bump in the
# hot loop than a dict keyed by name.
CHECK_NAMES = ("bundle_format", "index", "entry_format", "signature", "key_window", "payload")
_FORMAT, _INDEX, _ENTRY, _SIGNATURE, _WINDOW, _PAYLOAD = range(len(CHECK_NAMES))


@dataclass(slots=True)
class ChunkResult:
    start: int
    leaf_hashes: bytearray = field(default_factory=bytearray)
    streams: list[str | None] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    passes: list[int] = field(default_factory=lambda: [0] * len(CHECK_NAMES))
    failures: list[tuple[str, int, str]] = field(default_factory=list)  # (check, leaf, reason)
    erased: list[int] = field(default_factory=list)
    # What the log-wide erasure check needs: (leaf, type, stream, version) of each erased entry
    # and of each event that may close a stream to erasure (verifier/erasure.py).
    erased_entries: list[Marked] = field(default_factory=list)
    closings: list[Marked] = field(default_factory=list)
    # (leaf, payload or None) of each `ledger.LogAnchor.ReAnchored` entry, reported to the auditor.
    reanchors: list[tuple[int, bytes | None]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.versions)

    @property
    def checked(self) -> dict[str, int]:
        """Passes per check name (failures are listed separately)."""
        return {name: count for name, count in zip(CHECK_NAMES, self.passes, strict=True) if count}

    def fail(self, check: str, position: int, reason: str) -> None:
        self.failures.append((check, position, reason))

    def add_leaf(self, hash_of_leaf: bytes, stream: str | None = None, version: int = 0) -> None:
        self.leaf_hashes += hash_of_leaf
        self.streams.append(stream)
        self.versions.append(version)


# A signature waiting for the chunk's verification pass: (key, kid, signature, message, leaf).
_Pending = tuple[Ed25519PublicKey, str, bytes, bytes, int]


class LeafChecker:
    """Checks entries against one keyring; built once per worker (key objects do not pickle)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keys: dict[str, tuple[EntryKey, Ed25519PublicKey]] = {
            kid: (key, Ed25519PublicKey.from_public_bytes(key.public_key))
            for kid, key in keyring.entry_keys.items()
        }
        self._pending: list[_Pending] = []

    def check_lines(self, start: int, lines: Sequence[bytes]) -> ChunkResult:
        """Check lines of entries.jsonl, the first being leaf ``start``."""
        result = ChunkResult(start)
        for offset, line in enumerate(lines):
            self._check_line(result, start + offset, line)
        self._verify_pending(result)
        return result

    def check_records(self, start: int, records: Iterable[Record]) -> ChunkResult:
        result = ChunkResult(start)
        for offset, record in enumerate(records):
            self._check_leaf(result, start + offset, record)
        self._verify_pending(result)
        return result

    def check_record(
        self, position: int, record: Record, *, signature_error: str = "", payload_error: str = ""
    ) -> ChunkResult:
        """Check one leaf (a receipt's); errors are from decoding its base64 fields, if any."""
        result = ChunkResult(position)
        self._check_leaf(
            result, position, record, signature_error=signature_error, payload_error=payload_error
        )
        self._verify_pending(result)
        return result

    def _check_line(self, result: ChunkResult, position: int, line: bytes) -> None:
        try:
            record = _decode_json(line.decode("utf-8"))
        except ValueError as error:  # UnicodeDecodeError is one too
            result.fail("bundle_format", position, f"not JSON: {error}")
            result.add_leaf(leaf_hash(line))  # keeps later positions; no checkpoint can match it
            return
        shape_error = _line_shape_error(record)
        if shape_error:
            result.fail("bundle_format", position, shape_error)
            entry = record.get("entry") if type(record) is dict else None
            text = entry.encode("utf-8", "surrogatepass") if type(entry) is str else line
            result.add_leaf(leaf_hash(text))
            return
        result.passes[_FORMAT] += 1
        signature, signature_error = _decode(record["signature"])
        payload, payload_error = _decode(record["payload"])
        self._check_leaf(
            result,
            position,
            (record["index"], record["entry"], signature or b"", payload),
            signature_error=signature_error,
            payload_error=payload_error,
        )

    def _check_leaf(
        self,
        result: ChunkResult,
        position: int,
        record: Record,
        *,
        signature_error: str = "",
        payload_error: str = "",
    ) -> None:
        """All per-entry checks of the leaf at ``position``; a None payload means erased.

        The signature is only queued here; ``_verify_pending`` checks the chunk's signatures in
        one tight loop, which measured faster than interleaving them with JSON work.
        """
        index, text, signature, payload = record
        if index == position:
            result.passes[_INDEX] += 1
        else:
            result.fail("index", position, f"index field says {index}")
        try:
            entry = parse_entry(text)
        except EntryError as error:
            result.fail("entry_format", position, str(error))
            # The leaf still takes its place in the tree, so later checkpoints are judged fairly.
            result.add_leaf(leaf_hash(text.encode("utf-8", "surrogatepass")))
            return
        result.passes[_ENTRY] += 1
        result.add_leaf(leaf_hash(entry.canonical_bytes), entry.stream, entry.version)
        self._queue_signature(result, position, entry, signature, signature_error)
        if entry.type in CLOSING_TYPES:
            result.closings.append((position, entry.type, entry.stream, entry.version))
        elif entry.type == REANCHORED:
            result.reanchors.append((position, payload))
        if payload_error:
            result.fail("payload", position, payload_error)
        elif payload is None:
            result.erased.append(position)
            result.erased_entries.append((position, entry.type, entry.stream, entry.version))
        elif hashlib.sha256(payload).hexdigest() == entry.payload_sha256:
            result.passes[_PAYLOAD] += 1
        else:
            result.fail("payload", position, "stored payload does not hash to payload_sha256")

    def _queue_signature(
        self, result: ChunkResult, position: int, entry: Entry, signature: bytes, error: str
    ) -> None:
        known = self._keys.get(entry.kid)
        if known is None:
            result.fail("signature", position, f"kid {entry.kid!r} is not in the keyring")
            return
        key, public_key = known
        if key.valid_at(entry.at_time):
            result.passes[_WINDOW] += 1
        else:
            result.fail(
                "key_window", position, f"at {entry.at} is outside key {key.kid}'s {key.window()}"
            )
        if error:
            result.fail("signature", position, error)
            return
        message = signed_message(entry.canonical_bytes)
        self._pending.append((public_key, key.kid, signature, message, position))

    def _verify_pending(self, result: ChunkResult) -> None:
        failed: list[tuple[str, int, str]] = []
        for public_key, kid, signature, message, position in self._pending:
            try:
                public_key.verify(signature, message)
            except InvalidSignature:
                failed.append(("signature", position, f"signature does not verify under key {kid}"))
        result.passes[_SIGNATURE] += len(self._pending) - len(failed)
        self._pending.clear()
        # Keep failures in leaf order per check, as the report lists the first ones.
        result.failures.extend(failed)


_decode_json = json.JSONDecoder().decode  # json.loads minus its per-call argument handling


def _decode(value: str | None) -> tuple[bytes | None, str]:
    if value is None:
        return None, ""
    try:
        return b64decode_strict(value), ""
    except ValueError as error:
        return b"", f"field is not canonical base64: {error}"


def _line_shape_error(record: object) -> str:
    """Why a parsed line is not an export record, or "" when it is one."""
    if type(record) is not dict:
        return "line is not a JSON object"
    if record.keys() != LINE_KEYS:
        return f"line keys are {sorted(record)}, not {sorted(LINE_KEYS)}"
    if type(record["index"]) is not int:
        return "index is not an integer"
    if type(record["entry"]) is not str:
        return "entry is not a string"
    if type(record["signature"]) is not str:
        return "signature is not a string"
    if record["payload"] is not None and type(record["payload"]) is not str:
        return "payload is neither a string nor null"
    return ""


# Worker-process state: set once by the pool initializer, so the keyring crosses the process
# boundary once rather than with every chunk.
_worker_checker: LeafChecker | None = None


def init_worker(keyring: Keyring) -> None:
    global _worker_checker  # noqa: PLW0603 - per-process state is the point of an initializer
    _worker_checker = LeafChecker(keyring)


def check_lines_in_worker(start: int, lines: Sequence[bytes]) -> ChunkResult:
    assert _worker_checker is not None, "init_worker was not called"
    return _worker_checker.check_lines(start, lines)


def check_records_in_worker(start: int, records: Sequence[Record]) -> ChunkResult:
    assert _worker_checker is not None, "init_worker was not called"
    return _worker_checker.check_records(start, records)
