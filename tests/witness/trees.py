"""A reference RFC 6962 tree for the witness tests (tests/rfc9162_tree.py, written from the RFC's
recursive definitions), and signed checkpoints of it by a test log key."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from tests.rfc9162_tree import consistency_proof, mth, mth_leaf

ORIGIN = "civitas.test/witnessed-log"


def root(leaves: list[bytes]) -> bytes:
    """MTH of the entries `leaves` (each hashed as a leaf)."""
    return mth([mth_leaf(leaf) for leaf in leaves])


def consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2 (empty for m = 0 or m = n)."""
    return consistency_proof(m, [mth_leaf(leaf) for leaf in leaves])


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
