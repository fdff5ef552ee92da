"""How a signed entry is kept in the event store's `state` column.

    marker | u16 len | actor | at (27 bytes) | u8 len | kid | SHA-256 (32) | signature (64) | data

`data` is the payload. The marker is 0x01 while it is kept and 0x02 once it is erased (then nothing
follows). `stream`, `type` and `version` are not repeated: they are the row's own
`originator_id`, `topic` and `originator_version`, and the canonical entry is rebuilt from the
row on every read, so a row moved to another stream or position no longer matches its signature.
Keeping the frame small keeps the write path close to plain `eventsourcing` (benchmarks/append.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from uuid import UUID

from ledger.entry import Entry

SIGNATURE_SIZE = 64
DIGEST_SIZE = 32
TIMESTAMP_SIZE = 27
_WITH_PAYLOAD = 0x01
_ERASED = 0x02
_HEADER = struct.Struct(">BH")


class MalformedEnvelope(ValueError):
    """The stored state is not a signed-entry envelope."""


@dataclass(frozen=True, slots=True)
class SignedEntry:
    """An entry with its signature and payload, as read back from one row."""

    entry: Entry
    entry_bytes: bytes
    signature: bytes
    payload: bytes | None  # None once erased


def pack(actor: str, at: str, kid: str, digest: bytes, signature: bytes, payload: bytes) -> bytes:
    """The frame of a signed entry whose payload is kept."""
    actor_bytes = actor.encode()
    kid_bytes = kid.encode()
    if len(at) != TIMESTAMP_SIZE or len(kid_bytes) > 255 or len(actor_bytes) > 65535:
        raise ValueError("entry fields too long for the stored frame")
    return b"".join(
        (
            _HEADER.pack(_WITH_PAYLOAD, len(actor_bytes)),
            actor_bytes,
            at.encode(),
            bytes((len(kid_bytes),)),
            kid_bytes,
            digest,
            signature,
            payload,
        )
    )


def unpack(stream: UUID | str, type_: str, version: int, state: bytes) -> SignedEntry:
    """Rebuild the signed entry of one stored row."""
    try:
        marker, actor_length = _HEADER.unpack_from(state)
        position = _HEADER.size + actor_length
        actor = state[_HEADER.size : position].decode()
        at = state[position : position + TIMESTAMP_SIZE].decode("ascii")
        position += TIMESTAMP_SIZE
        kid_length = state[position]
        kid = state[position + 1 : position + 1 + kid_length].decode()
        position += 1 + kid_length
        digest = state[position : position + DIGEST_SIZE]
        position += DIGEST_SIZE
        signature = state[position : position + SIGNATURE_SIZE]
        position += SIGNATURE_SIZE
    except (struct.error, IndexError, UnicodeDecodeError):
        raise MalformedEnvelope("stored state is not a signed-entry envelope") from None
    if marker not in (_WITH_PAYLOAD, _ERASED) or position > len(state):
        raise MalformedEnvelope("stored state is not a signed-entry envelope")
    if marker == _ERASED and position != len(state):
        raise MalformedEnvelope("an erased entry carries no payload")
    entry = Entry(
        actor=actor,
        at=at,
        kid=kid,
        payload_sha256=digest.hex(),
        stream=str(stream),
        type=type_,
        version=version,
    )
    payload = state[position:] if marker == _WITH_PAYLOAD else None
    return SignedEntry(entry, entry.canonical_bytes(), signature, payload)


def erase_payload(state: bytes) -> bytes:
    """The same frame without its payload: hashes, signature and proofs stay valid."""
    signed_part = state[: len(state) - _payload_length(state)]
    return bytes((_ERASED,)) + signed_part[1:]


def _payload_length(state: bytes) -> int:
    marker, actor_length = _HEADER.unpack_from(state)
    if marker == _ERASED:
        return 0
    position: int = _HEADER.size + actor_length + TIMESTAMP_SIZE
    position += 1 + state[position] + DIGEST_SIZE + SIGNATURE_SIZE
    return len(state) - position
