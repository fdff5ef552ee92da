"""A reference Merkle tree for tests, written from the recursive definitions of RFC 9162 section
2.1 (MTH, PATH, SUBPROOF; the same as RFC 6962's) rather than any streaming code, so a test
compares two independent implementations. It imports nothing of the project: the verifier's and
the witness's tests both build their trees with it."""

from __future__ import annotations

import hashlib


def mth_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """The root of a tree of leaf hashes (`mth_leaf` of each entry)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(mth(leaves[:k]), mth(leaves[k:]))


def inclusion_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*inclusion_path(m, leaves[:k]), mth(leaves[k:])]
    return [*inclusion_path(m - k, leaves[k:]), mth(leaves[:k])]


def consistency_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) over leaf hashes (empty for m = 0 or m = n)."""

    def subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
        if m == len(d):
            return [] if complete else [mth(d)]
        k = _split(len(d))
        if m <= k:
            return [*subproof(m, d[:k], complete), mth(d[k:])]
        return [*subproof(m - k, d[k:], False), mth(d[:k])]

    return subproof(m, leaves, True) if 0 < m < len(leaves) else []
