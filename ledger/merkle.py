"""RFC 9162 (RFC 6962) Merkle tree hashing, proofs and appending (docs/ledger-format.md section 3).

Modelled on Go's transparency-dev/merkle, one small function per algorithm, so that each can be
checked against that implementation's test vectors.

Storage model. The tree is kept as *perfect subtree nodes*: node ``(level, index)`` is the hash of
leaves ``[index * 2**level, (index + 1) * 2**level)``, stored only once that subtree is complete, so
a stored node never changes. Any subtree an RFC 9162 proof needs is either such a node or the right
edge of a tree, which is at most one node per level; so a root or proof costs O(log n) lookups.
Proof generation is split into a pure step that lists the node keys it needs, one fetch (one
database round-trip with a `BatchNodeReader`), and a pure step that assembles the hashes.

Appending. A `CompactRange` holds the right edge of the tree (one perfect subtree per set bit of
the size). Appending a leaf returns the nodes it completes, which are all the sequencer persists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

HASH_SIZE = 32
# RFC 9162 §2.1.1: MTH({}) = SHA-256() -- the root of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()

# RFC 9162 §2.1.1 domain separation: leaves and interior nodes can never hash to each other.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

NodeKey = tuple[int, int]
"""``(level, index)`` of a perfect subtree: leaves [index * 2**level, (index + 1) * 2**level)."""

LeafRange = tuple[int, int]
"""``(begin, end)``: the leaves ``D[begin:end]`` whose Merkle tree hash is wanted."""


class ProofError(ValueError):
    """A Merkle proof does not verify (or is malformed)."""


@dataclass(frozen=True, slots=True)
class Node:
    """A completed perfect subtree, as the appender hands it over for storage."""

    level: int
    index: int
    hash: bytes

    @property
    def key(self) -> NodeKey:
        return (self.level, self.index)


@runtime_checkable
class NodeReader(Protocol):
    """Reads stored perfect subtree nodes; raises `KeyError` for a node that is not stored."""

    def node(self, level: int, index: int) -> bytes: ...


@runtime_checkable
class BatchNodeReader(NodeReader, Protocol):
    """A `NodeReader` that can fetch many nodes at once (one database round-trip per proof).

    Nodes it does not hold are left out of the mapping; `read_nodes` turns that into `KeyError`.
    """

    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]: ...


# --- hashing (RFC 9162 §2.1.1) -------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n >= 2), where RFC 9162 §2.1.1 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) straight from the RFC 9162 §2.1.1 definition: the slow, obvious reference."""
    if not hashes:
        return EMPTY_ROOT
    return _reference_hash(hashes, 0, len(hashes))


def _reference_hash(hashes: Sequence[bytes], begin: int, end: int) -> bytes:
    if end - begin == 1:
        return hashes[begin]
    middle = begin + _split_point(end - begin)
    return node_hash(_reference_hash(hashes, begin, middle), _reference_hash(hashes, middle, end))


# --- which stored nodes a subtree hash needs (pure) ----------------------------------------------


def _perfect_node(begin: int, end: int) -> NodeKey | None:
    """The stored node covering exactly [begin, end), or None when that range is not one node."""
    n = end - begin
    if n & (n - 1) == 0 and begin % n == 0:
        level = n.bit_length() - 1
        return (level, begin >> level)
    return None


def range_node_keys(begin: int, end: int) -> list[NodeKey]:
    """The stored nodes from which MTH(D[begin:end]) is assembled, left to right.

    Follows the RFC 9162 §2.1.1 split, stopping wherever a part is one stored node. When ``begin``
    is a multiple of the smallest power of two >= ``end - begin`` (true of every subtree a proof or
    root uses) that is at most one node per level, O(log n); other ranges are still correct but
    may need down to single leaves.
    """
    if not 0 <= begin < end:
        raise ValueError(f"need 0 <= begin < end, got [{begin}, {end})")
    keys: list[NodeKey] = []
    _collect_keys(begin, end, keys)
    return keys


def _collect_keys(begin: int, end: int, keys: list[NodeKey]) -> None:
    key = _perfect_node(begin, end)
    if key is not None:
        keys.append(key)
        return
    middle = begin + _split_point(end - begin)
    _collect_keys(begin, middle, keys)
    _collect_keys(middle, end, keys)


def hash_range(begin: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[begin:end]) from the nodes `range_node_keys(begin, end)` names (same recursion)."""
    key = _perfect_node(begin, end)
    if key is not None:
        return nodes[key]
    middle = begin + _split_point(end - begin)
    return node_hash(hash_range(begin, middle, nodes), hash_range(middle, end, nodes))


def inclusion_proof_ranges(index: int, size: int) -> list[LeafRange]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 as leaf ranges, lowest level first (proof order)."""
    if not 0 <= index < size:
        raise ValueError(f"need 0 <= index < size, got index {index}, size {size}")
    ranges: list[LeafRange] = []
    begin, end = 0, size
    while end - begin > 1:
        middle = begin + _split_point(end - begin)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((begin, middle))
            begin = middle
    ranges.reverse()
    return ranges


def consistency_proof_ranges(size1: int, size2: int) -> list[LeafRange]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1 as leaf ranges, in order.

    Empty when ``size1`` is 0 or equals ``size2`` (as transparency-dev/merkle's
    ``proof.Consistency``): there is nothing to prove, and `verify_consistency` refuses size 0.
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"need 0 <= size1 <= size2, got {size1}, {size2}")
    if size1 in (0, size2):
        return []
    ranges: list[LeafRange] = []
    begin, end, m, whole_old_tree = 0, size2, size1, True
    while m != end - begin:
        middle = begin + _split_point(end - begin)
        if m <= middle - begin:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((begin, middle))
            m -= middle - begin
            begin = middle
            whole_old_tree = False
    # SUBPROOF(m, D[m], b): the old tree's own root is left out, since the verifier has it.
    if not whole_old_tree:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def compact_range_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees covering [0, size), largest (leftmost) first: one per set bit of size.

    A restarting sequencer reads these to rebuild its `CompactRange` without replaying leaves.
    """
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    keys: list[NodeKey] = []
    begin = 0
    for level in reversed(range(size.bit_length())):
        if (size >> level) & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


# --- reading from storage -------------------------------------------------------------------------


def read_nodes(reader: NodeReader, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """Fetch the nodes in one call when the reader can batch, else one by one."""
    wanted = list(dict.fromkeys(keys))
    if isinstance(reader, BatchNodeReader):
        found = reader.nodes(wanted)
        missing = [key for key in wanted if key not in found]
        if missing:
            raise KeyError(f"Merkle nodes not stored: {missing}")
        return {key: found[key] for key in wanted}
    return {key: reader.node(*key) for key in wanted}


def _hash_ranges(reader: NodeReader, ranges: Sequence[LeafRange]) -> list[bytes]:
    keys = [key for begin, end in ranges for key in range_node_keys(begin, end)]
    nodes = read_nodes(reader, keys)
    return [hash_range(begin, end, nodes) for begin, end in ranges]


def subtree_root(reader: NodeReader, begin: int, end: int) -> bytes:
    """MTH(D[begin:end]) from stored nodes (see `range_node_keys` for the cost)."""
    if 0 <= begin == end:
        return EMPTY_ROOT
    return _hash_ranges(reader, [(begin, end)])[0]


def root(reader: NodeReader, size: int) -> bytes:
    """The root hash of the tree of the given size."""
    return subtree_root(reader, 0, size)


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return _hash_ranges(reader, inclusion_proof_ranges(index, size))


def consistency_proof(reader: NodeReader, size1: int, size2: int) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 proof that the tree of ``size2`` extends the tree of ``size1``."""
    return _hash_ranges(reader, consistency_proof_ranges(size1, size2))


# --- appending ------------------------------------------------------------------------------------


def nodes_completed_by_append(
    size_before: int, new_leaf_hash: bytes, right_edge: Sequence[bytes]
) -> tuple[list[Node], tuple[bytes, ...]]:
    """Append one leaf hash to the tree whose right edge is given.

    Returns the nodes the new leaf completes (the leaf itself, then each parent it fills, lowest
    first) and the new right edge. Every perfect subtree is completed by exactly one append, so
    persisting these nodes as they come stores the whole tree, each node written once.
    """
    _check_right_edge(size_before, right_edge)
    if len(new_leaf_hash) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(new_leaf_hash)}")
    edge = list(right_edge)
    completed = [Node(0, size_before, new_leaf_hash)]
    current, level = new_leaf_hash, 0
    # Each set low bit of the old size is a left sibling the new subtree now completes.
    while (size_before >> level) & 1:
        current = node_hash(edge.pop(), current)
        level += 1
        completed.append(Node(level, size_before >> level, current))
    edge.append(current)
    return completed, tuple(edge)


def root_from_right_edge(size: int, right_edge: Sequence[bytes]) -> bytes:
    """The root of the tree of ``size`` leaves from its compact range alone (folded from the right,
    as the RFC 9162 §2.1.1 split always puts the largest perfect subtree on the left)."""
    _check_right_edge(size, right_edge)
    if not right_edge:
        return EMPTY_ROOT
    result = right_edge[-1]
    for left in reversed(right_edge[:-1]):
        result = node_hash(left, result)
    return result


def _check_right_edge(size: int, right_edge: Sequence[bytes]) -> None:
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    if len(right_edge) != size.bit_count():
        raise ValueError(f"a tree of {size} leaves has {size.bit_count()} right-edge hashes")
    if any(len(value) != HASH_SIZE for value in right_edge):
        raise ValueError(f"right-edge hashes are {HASH_SIZE} bytes")


@dataclass(frozen=True)
class CompactRange:
    """The right edge of a tree: hashes of the perfect subtrees covering [0, size), largest first.

    Immutable: `append` returns the next range and the nodes to persist, so a failed write leaves
    the caller holding the last range it did persist.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_right_edge(self.size, self.hashes)

    @classmethod
    def load(cls, reader: NodeReader, size: int) -> CompactRange:
        """Rebuild the range of a stored tree from its `compact_range_keys` (one fetch)."""
        keys = compact_range_keys(size)
        nodes = read_nodes(reader, keys)
        return cls(size, tuple(nodes[key] for key in keys))

    def keys(self) -> list[NodeKey]:
        return compact_range_keys(self.size)

    def root(self) -> bytes:
        return root_from_right_edge(self.size, self.hashes)

    def append(self, leaf_hash: bytes) -> tuple[CompactRange, list[Node]]:
        completed, edge = nodes_completed_by_append(self.size, leaf_hash, self.hashes)
        return CompactRange(self.size + 1, edge), completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> tuple[CompactRange, list[Node]]:
        """Append many leaf hashes; returns the final range and every node they completed."""
        current: CompactRange = self
        completed: list[Node] = []
        for value in leaf_hashes:
            current, nodes = current.append(value)
            completed.extend(nodes)
        return current, completed


# --- verification (transparency-dev/merkle proof/verify.go) -------------------------------------


def _verify_match(calculated: bytes, expected: bytes) -> None:
    if calculated != expected:
        raise ProofError(f"calculated root {calculated.hex()} does not match {expected.hex()}")


def _decompose_inclusion_proof(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof hashes below and above where the paths to ``index`` and
    ``size - 1`` meet. Their sum is the length of a correct inclusion proof."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Hash up from ``seed`` at ``index`` on its level, taking the sides from the index bits."""
    for i, value in enumerate(proof):
        seed = node_hash(seed, value) if (index >> i) & 1 == 0 else node_hash(value, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like `_chain_inner`, but only the left siblings: the earlier version of the subtree."""
    for i, value in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(value, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    """Above the right border every proof hash is a left sibling."""
    for value in proof:
        seed = node_hash(value, seed)
    return seed


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2); raises `ProofError`."""
    if index < 0 or index >= size:
        raise ProofError(f"index is beyond size: {index} >= {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash has size {len(leaf_hash)}, want {HASH_SIZE}")
    inner, border = _decompose_inclusion_proof(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {inner + border}")
    result = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf is at ``index`` in the tree of ``size`` leaves with ``root``.

    Note that a proof binds the shape of the path, not the size itself: a size whose path has the
    same shape yields the same root. The size is bound by the signed checkpoint carrying the root.
    """
    _verify_match(root_from_inclusion_proof(leaf_hash, index, size, proof), root)


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """The root of the tree of ``size2`` implied by a consistency proof from ``root1`` at
    ``size1`` (RFC 9162 §2.1.4.2); raises `ProofError`, also when ``root1`` does not match.

    As the current transparency-dev/merkle: a proof from the empty tree is meaningless and is
    refused, even between two empty trees.
    """
    if size1 < 0 or size2 < size1:
        raise ProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ProofError("consistency proof from empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("size1 == size2, but proof is not empty")
        return root1
    if not proof:
        raise ProofError("empty proof")

    inner, border = _decompose_inclusion_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift  # shift < inner, because size1 < size2

    # The proof starts with the root of the subtree of size 2**shift holding leaf size1 - 1 ...
    seed, start = proof[0], 1
    if size1 == 1 << shift:  # ... unless that subtree is the whole old tree, whose root we have.
        seed, start = root1, 0
    if len(proof) != start + inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {start + inner + border}")
    path = proof[start:]
    # Now path is effectively a suffix of the inclusion proof of leaf size1 - 1 in size2.

    mask = (size1 - 1) >> shift  # chaining starts at level `shift`
    hash1 = _chain_border_right(_chain_inner_right(seed, path[:inner], mask), path[inner:])
    _verify_match(hash1, root1)
    return _chain_border_right(_chain_inner(seed, path[:inner], mask), path[inner:])


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the tree of ``size1`` with
    ``root1``. Requires 0 < size1 <= size2; raises `ProofError`."""
    _verify_match(root_from_consistency_proof(size1, size2, proof, root1), root2)
