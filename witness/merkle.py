"""RFC 9162 section 2.1.4.2: checking that one tree extends another, from a consistency proof.

Written from the RFC, not from the log's code: the witness must not share a bug with the writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """The proof does not show that the new tree extends the old one."""


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless the tree (new_size, new_root) extends (old_size, old_root)."""
    if not 0 < old_size < new_size:
        raise ProofError(f"a proof links a smaller non-empty tree to a larger one, not {old_size}")
    if not proof or any(len(node) != HASH_SIZE for node in proof):
        raise ProofError("the proof is empty or holds a hash that is not 32 bytes")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a complete subtree of the new one
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old = new = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than needed")
        if fn & 1 or fn == sn:
            old = _node(node, old)
            new = _node(node, new)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            new = _node(new, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than needed")
    if old != old_root:
        raise ProofError("the proof does not lead to the tree this witness cosigned")
    if new != new_root:
        raise ProofError("the proof does not lead to the new checkpoint's root")
