"""A reference RFC 6962 tree for the witness tests, written from the RFC's recursive definitions
(MTH and SUBPROOF), and signed checkpoints of it by a test log key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint

ORIGIN = "civitas.test/witnessed-log"


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return _leaf(leaves[0])
    k = _split(len(leaves))
    return _node(root(leaves[:k]), root(leaves[k:]))


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2 (empty for m = 0 or m = n)."""
    return [] if m in (0, len(leaves)) else _subproof(m, leaves, True)


def entries(count: int, salt: str = "") -> list[bytes]:
    return [f"entry {i}{salt}".encode() for i in range(count)]


class SigningLog:
    """A log's checkpoint key and the notes it signs."""

    def __init__(self, origin: str = ORIGIN) -> None:
        self.origin = origin
        self.signer = NoteSigner(origin, Ed25519PrivateKey.generate())
        self.vkey = self.signer.verifier_key

    def checkpoint(self, leaves: list[bytes]) -> str:
        return sign_checkpoint(Checkpoint(self.origin, len(leaves), root(leaves)), self.signer)


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(node).decode() for node in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()
