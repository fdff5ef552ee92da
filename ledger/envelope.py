"""How a signed entry is kept in the event store's `state` column.

    0x01 | u32 entry length | canonical entry | 64-byte Ed25519 signature | payload  (kept)
    0x02 | u32 entry length | canonical entry | 64-byte Ed25519 signature            (erased)

A fixed binary frame rather than JSON: it is read for every event replayed, and keeping the entry
as the exact signed bytes means nothing ever re-serialises what was signed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SIGNATURE_SIZE = 64
_WITH_PAYLOAD = 0x01
_ERASED = 0x02
_HEADER = struct.Struct(">BI")


class MalformedEnvelope(ValueError):
    """The stored state is not a signed-entry envelope."""


@dataclass(frozen=True, slots=True)
class SignedEntry:
    entry: bytes
    signature: bytes
    payload: bytes | None  # None once erased

    def to_state(self) -> bytes:
        marker = _ERASED if self.payload is None else _WITH_PAYLOAD
        header = _HEADER.pack(marker, len(self.entry))
        return header + self.entry + self.signature + (self.payload or b"")

    @classmethod
    def from_state(cls, state: bytes) -> SignedEntry:
        if len(state) < _HEADER.size + SIGNATURE_SIZE:
            raise MalformedEnvelope("stored state too short for a signed entry")
        marker, entry_length = _HEADER.unpack_from(state)
        entry_end = _HEADER.size + entry_length
        signature_end = entry_end + SIGNATURE_SIZE
        if marker not in (_WITH_PAYLOAD, _ERASED) or signature_end > len(state):
            raise MalformedEnvelope("stored state is not a signed-entry envelope")
        if marker == _ERASED and signature_end != len(state):
            raise MalformedEnvelope("an erased entry carries no payload")
        return cls(
            entry=state[_HEADER.size : entry_end],
            signature=state[entry_end:signature_end],
            payload=state[signature_end:] if marker == _WITH_PAYLOAD else None,
        )

    def erased(self) -> SignedEntry:
        return SignedEntry(self.entry, self.signature, None)
