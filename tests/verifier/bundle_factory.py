"""A small, self-contained maker of Civitas logs, bundles and receipts for the verifier's tests.

It uses ``cryptography`` directly and computes Merkle trees with the recursive definitions of
RFC 9162 (MTH, PATH, SUBPROOF; tests/rfc9162_tree.py) rather than the verifier's streaming code,
so the tests compare two independent implementations. It does not import the writer (``ledger``)
either.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.rfc9162_tree import inclusion_path, mth, mth_leaf

ORIGIN = "civitas.example/ledger"
START = datetime(2026, 11, 22, 14, 0, 0, 123456, tzinfo=UTC)
CONTEXT = b"civitas/entry/v1\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def seeded_key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- signed notes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def key_hash(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n\x01" + raw_public(self.private)).digest()[
            :4
        ]

    @property
    def vkey(self) -> str:
        encoded = b64(bytes([1]) + raw_public(self.private))
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def sign(self, text: str) -> str:
        signature = self.private.sign(text.encode())
        return f"{text}\n\u2014 {self.name} {b64(self.key_hash + signature)}\n"


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


# --- the log ---------------------------------------------------------------------------------


@dataclass
class Record:
    """One leaf as exported: the canonical entry text, its signature and its payload."""

    index: int
    entry: str
    signature: bytes
    payload: bytes | None

    def fields(self) -> dict[str, object]:
        fields: dict[str, object] = json.loads(self.entry)
        return fields

    def line(self) -> str:
        document = {
            "index": self.index,
            "entry": self.entry,
            "signature": b64(self.signature),
            "payload": None if self.payload is None else b64(self.payload),
        }
        return json.dumps(document, ensure_ascii=False)  # ", " and ": ": whitespace to tamper with


def canonical(fields: dict[str, object]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Log:
    origin: str = ORIGIN
    entry_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    windows: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)
    checkpoint_key: NoteKey = field(
        default_factory=lambda: NoteKey("civitas-log", seeded_key("cp"))
    )
    records: list[Record] = field(default_factory=list)

    def sign_entry(self, fields: dict[str, object], key: Ed25519PrivateKey | None = None) -> Record:
        text = canonical(fields)
        signer = key or self.entry_keys[str(fields["kid"])]
        return Record(0, text, signer.sign(CONTEXT + text.encode()), None)

    def kid_at(self, moment: datetime) -> str:
        for kid, (start, end) in self.windows.items():
            if start <= moment and (end is None or moment < end):
                return kid
        raise LookupError(moment)

    def leaf_hashes(self, records: list[Record] | None = None) -> list[bytes]:
        return [mth_leaf(r.entry.encode()) for r in (self.records if records is None else records)]

    def root(self, size: int) -> bytes:
        return mth(self.leaf_hashes()[:size])

    def checkpoint(self, size: int, root: bytes | None = None, key: NoteKey | None = None) -> str:
        text = checkpoint_text(self.origin, size, self.root(size) if root is None else root)
        return (key or self.checkpoint_key).sign(text)

    def keyring(self) -> dict[str, object]:
        return {
            "entry_keys": [
                {
                    "kid": kid,
                    "public_key": b64(raw_public(self.entry_keys[kid])),
                    "not_before": rfc3339(start),
                    "not_after": None if end is None else rfc3339(end),
                }
                for kid, (start, end) in self.windows.items()
            ],
            "checkpoint_keys": [self.checkpoint_key.vkey],
            "origin": self.origin,
        }

    def write_bundle(self, folder: Path, checkpoint_sizes: list[int]) -> Path:
        (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        lines = "".join(record.line() + "\n" for record in self.records)
        (folder / "entries.jsonl").write_text(lines, encoding="utf-8")
        for size in checkpoint_sizes:
            (folder / "checkpoints" / f"{size}.txt").write_bytes(self.checkpoint(size).encode())
        (folder / "keyring.json").write_text(json.dumps(self.keyring(), indent=2), encoding="utf-8")
        return folder

    def receipt(self, index: int, size: int) -> dict[str, object]:
        record = self.records[index]
        proof = inclusion_path(index, self.leaf_hashes()[:size])
        return {
            "origin": self.origin,
            "index": index,
            "entry": record.entry,
            "signature": b64(record.signature),
            "payload": None if record.payload is None else b64(record.payload),
            "inclusion_proof": [b64(node) for node in proof],
            "checkpoint": self.checkpoint(size),
            "keyring": self.keyring(),
        }

    def renumbered(self) -> None:
        self.records = [replace(record, index=i) for i, record in enumerate(self.records)]


def make_log(
    entries: int = 40,
    streams: int = 4,
    *,
    rotate_at: int | None = 20,
    erased: frozenset[int] = frozenset({3, 11}),
    seed: int = 7,
    origin: str = ORIGIN,
    key_label: str = "civitas",
) -> Log:
    """A log over ``streams`` streams; k1 signs until entry ``rotate_at``, k2 from then on."""
    rng = random.Random(seed)
    log = Log(origin=origin, checkpoint_key=NoteKey("civitas-log", seeded_key(key_label + "cp")))
    rotation = START + timedelta(seconds=rotate_at) if rotate_at is not None else None
    log.entry_keys["k1"] = seeded_key(key_label + "k1")
    log.windows["k1"] = (START - timedelta(days=1), rotation)
    if rotation is not None:
        log.entry_keys["k2"] = seeded_key(key_label + "k2")
        log.windows["k2"] = (rotation, None)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(streams)]
    versions = dict.fromkeys(ids, 0)
    drafts: list[tuple[dict[str, object], bytes]] = []
    for i in range(entries):
        stream = ids[i % streams] if i < streams else rng.choice(ids)  # every stream starts early
        versions[stream] += 1
        moment = START + timedelta(seconds=i)
        payload = json.dumps({"n": i, "pad": "x" * rng.randrange(40)}).encode()
        fields: dict[str, object] = {
            "actor": "service:état-civil" if i % 5 == 0 else "service:tax-agency",
            "at": rfc3339(moment),
            "kid": log.kid_at(moment),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "stream": stream,
            "type": "ledger.Transaction.Submitted"
            if versions[stream] == 1
            else "ledger.Transaction.Updated",
            "v": 1,
            "version": versions[stream],
        }
        drafts.append((fields, payload))
    _erasable(drafts, erased)
    for i, (fields, payload) in enumerate(drafts):
        record = log.sign_entry(fields)
        record.index, record.payload = i, None if i in erased else payload
        log.records.append(record)
    return log


def _erasable(drafts: list[tuple[dict[str, object], bytes]], erased: frozenset[int]) -> None:
    """Make the erased entries lawful, as the verifier's `erasure` check wants: each is a
    session's `Refreshed`, and the next event of its stream that is not erased the `Revoked`
    that erases it (docs/erasure.md)."""
    for i in sorted(erased):
        if i >= len(drafts):
            continue
        fields = drafts[i][0]
        fields["type"] = "identity.Session.Refreshed"
        later = (
            j
            for j in range(i + 1, len(drafts))
            if drafts[j][0]["stream"] == fields["stream"] and j not in erased
        )
        closing = next(later, None)
        if closing is not None:
            drafts[closing][0]["type"] = "identity.Session.Revoked"
