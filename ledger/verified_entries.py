"""Entries whose signature this process has made or checked already (issue 14).

In a running server every event is read back soon after it is written: by the projections
that follow the log (the timeline and the statistics each read a sign-in's events) and by the
RPCs that load aggregates. An Ed25519 check costs about three signatures (60-120 µs here), and
the process that signed an entry learns nothing new by checking it again, so a recent entry's
signature is checked at most once per process.

What is remembered, per signature: the SHA-256 of the exact signing input (entry bytes under
the signature context, which name the stream, version, type, time, key id and payload hash) and
the raw public key it verifies under. A read skips the Ed25519 check only when all three match:
the same signature over the same bytes under the same key. Anything else (a row changed in the
database, an entry copied from another ledger, a key of the same id with other material) is
checked in full. The key's validity at the entry's time and the payload's hash are still
checked on every read by the mapper.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Final

# About a minute of writes at the sign-in benchmark's rate: followers read an entry within a
# second or two of its commit. Each remembered entry costs about 200 bytes.
CAPACITY: Final = 16_384


class VerifiedEntries:
    """A bounded memory of (signature, signing input, public key) triples known to verify,
    forgetting the oldest first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._known: dict[bytes, tuple[bytes, bytes]] = {}
        self._lock = threading.Lock()

    def remember(self, signature: bytes, signing_input: bytes, public_key: bytes) -> None:
        """*signature* is valid over *signing_input* under *public_key* (raw Ed25519 bytes):
        this process has just made or checked it."""
        fingerprint = (hashlib.sha256(signing_input).digest(), public_key)
        with self._lock:
            self._known[signature] = fingerprint
            while len(self._known) > self._capacity:
                del self._known[next(iter(self._known))]  # dicts keep insertion order

    def known(self, signature: bytes, signing_input: bytes, public_key: bytes) -> bool:
        """True only if this very triple was remembered (and not forgotten since)."""
        remembered = self._known.get(signature)
        return remembered is not None and remembered == (
            hashlib.sha256(signing_input).digest(),
            public_key,
        )

    def __len__(self) -> int:
        return len(self._known)


# One per process: the server's applications and its followers' mappers share it.
VERIFIED: Final = VerifiedEntries()
