"""RFC 9162 Merkle tree hashing, streaming roots and proof verification.

Written from RFC 9162 section 2.1 (the RFC 6962 tree), not from the writer's code. Hashes are
SHA-256; a leaf is ``H(0x00 || data)`` and an interior node ``H(0x01 || left || right)``, the domain
separation that stops a leaf from being passed off as a node (second-preimage attack).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 2.1.1: MTH({}) = SHA-256()


class ProofError(ValueError):
    """A proof does not verify; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    """``MTH({d}) = SHA-256(0x00 || d)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The right edge of a growing tree: one perfect-subtree hash per set bit of the size.

    Appending a leaf merges equal-sized subtrees like a binary counter carries, so the memory is
    O(log n) and each append costs one leaf plus, amortised, one node hash. The root at the current
    size folds the edge from the smallest subtree to the largest (RFC 9162 2.1.1's split at the
    largest power of two below n, computed bottom-up).
    """

    __slots__ = ("_edge", "size")

    def __init__(self) -> None:
        self._edge: list[bytes] = []  # largest subtree first
        self.size = 0

    def append(self, hash_of_leaf: bytes) -> None:
        node = hash_of_leaf
        carry = self.size
        edge = self._edge
        while carry & 1:
            node = node_hash(edge.pop(), node)
            carry >>= 1
        edge.append(node)
        self.size += 1

    def extend(self, concatenated_leaf_hashes: bytes) -> None:
        """Append many leaf hashes given back to back (the form worker processes return)."""
        append = self.append
        for offset in range(0, len(concatenated_leaf_hashes), HASH_SIZE):
            append(concatenated_leaf_hashes[offset : offset + HASH_SIZE])

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        edge = self._edge
        root = edge[-1]
        for subtree in reversed(edge[:-1]):
            root = node_hash(subtree, root)
        return root


def _check_hash_sizes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        if len(element) != HASH_SIZE:
            raise ProofError(f"proof hash {position} is {len(element)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, hash_of_leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """RFC 9162 2.1.3.2: the root that an inclusion proof implies for a leaf."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if len(hash_of_leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(hash_of_leaf)} bytes, not {HASH_SIZE}")
    _check_hash_sizes(proof)
    fn, sn = index, size - 1
    result = hash_of_leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            # Skip the levels where this node is the last, unpaired one of its row.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return result


def verify_inclusion(
    index: int, size: int, hash_of_leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless the leaf is at ``index`` in the tree of ``size`` with ``root``."""
    if root_from_inclusion_proof(index, size, hash_of_leaf, proof) != root:
        raise ProofError("inclusion proof leads to a different root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2: raise ProofError unless tree (size2, root2) extends (size1, root1)."""
    if size1 > size2:
        raise ProofError(f"tree shrank from {size1} to {size2} entries")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ProofError("an empty tree has the empty root")
        if root1 != root2:
            raise ProofError("same size but different roots: the log forked")
        return
    if size1 == 0:
        # An empty tree is a prefix of every tree, so such a proof proves nothing (RFC 9162 asks for
        # 0 < first); refusing it keeps callers from mistaking it for evidence.
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_hash_sizes(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)  # the old tree is a complete subtree of the new one
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if first != root1:
        raise ProofError("consistency proof does not lead to the old root")
    if second != root2:
        raise ProofError("consistency proof does not lead to the new root")
