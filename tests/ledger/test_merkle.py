"""Tests for ledger.merkle: transparency-dev/merkle vectors, the RFC 6962 tree, properties."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeKey,
    ProofError,
    compact_range_keys,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_completed_by_append,
    range_node_keys,
    root,
    root_from_leaf_hashes,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger.memory_node_store import MemoryNodeStore
from tests.vectors import MERKLE

VECTORS = MERKLE
INCLUSION_VECTORS = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_VECTORS = sorted((VECTORS / "consistency").rglob("*.json"))

# The RFC 6962 test tree of certificate-transparency and transparency-dev/merkle (testonly).
RFC6962_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
RFC6962_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Proofs in that tree, from transparency-dev/merkle proof/verify_test.go: (index, size, proof).
RFC6962_INCLUSION_PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]  # fmt: skip
RFC6962_CONSISTENCY_PROOFS = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


# --- an independent reference: RFC 9162 §2.1 PATH and SUBPROOF over a list of leaf hashes -------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*reference_path(m, leaves[:k]), root_from_leaf_hashes(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), root_from_leaf_hashes(leaves[:k])]


def reference_subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_from_leaf_hashes(leaves)]
    k = _split(n)
    if m <= k:
        return [*reference_subproof(m, leaves[:k], complete), root_from_leaf_hashes(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]


def reference_consistency(size1: int, size2: int, leaves: Sequence[bytes]) -> list[bytes]:
    if size1 in (0, size2):
        return []
    return reference_subproof(size1, leaves[:size2], True)


def inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border) of an inclusion path, computed from the tree picture, not from the code."""
    inner = 0
    while (index >> inner) != ((size - 1) >> inner):
        inner += 1
    return inner, bin(index >> inner).count("1")


def build(leaves: Sequence[bytes]) -> MemoryNodeStore:
    _, nodes = CompactRange().extend(leaves)
    return MemoryNodeStore(nodes)


def flip_bit(value: bytes, bit: int = 4) -> bytes:
    return bytes([value[0] ^ (1 << bit), *value[1:]])


def fails(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


# --- transparency-dev/merkle test vectors ---------------------------------------------------------


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(value) for value in values or []]


def _vector_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_vectors_are_present() -> None:
    # Guards against a moved folder turning the parametrised tests below into zero tests.
    assert len(INCLUSION_VECTORS) >= 60
    assert len(CONSISTENCY_VECTORS) >= 60
    assert any(path.name == "happy-path.json" for path in INCLUSION_VECTORS)


@pytest.mark.parametrize("path", INCLUSION_VECTORS, ids=_vector_id)
def test_inclusion_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    args = (
        _b64(vector["leafHash"]),
        vector["leafIdx"],
        vector["treeSize"],
        _proof(vector["proof"]),
        _b64(vector["root"]),
    )
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY_VECTORS, ids=_vector_id)
def test_consistency_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    args = (
        vector["size1"],
        vector["size2"],
        _proof(vector["proof"]),
        _b64(vector["root1"]),
        _b64(vector["root2"]),
    )
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# --- the RFC 6962 reference tree ------------------------------------------------------------------


def test_hash_functions_are_domain_separated() -> None:
    assert EMPTY_ROOT.hex() == RFC6962_ROOTS[0]
    assert leaf_hash(b"").hex() == RFC6962_ROOTS[1]
    assert node_hash(b"a" * 32, b"b" * 32) != leaf_hash(b"\x01" + b"a" * 32 + b"b" * 32)


def test_reference_roots_of_rfc6962_tree() -> None:
    hashes = [leaf_hash(data) for data in RFC6962_LEAVES]
    store = build(hashes)
    for size, expected in enumerate(RFC6962_ROOTS):
        assert root_from_leaf_hashes(hashes[:size]).hex() == expected
        assert root(store, size).hex() == expected
        assert CompactRange().extend(hashes[:size])[0].root().hex() == expected
        assert CompactRange.load(store, size).root().hex() == expected


def test_shared_tree8_file_agrees_with_the_reference_roots() -> None:
    tree8 = json.loads((VECTORS / "tree8.json").read_text())
    assert [bytes.fromhex(leaf) for leaf in tree8["leaf_inputs"]] == RFC6962_LEAVES
    assert tree8["roots"] == RFC6962_ROOTS


@pytest.mark.parametrize(("index", "size", "expected"), RFC6962_INCLUSION_PROOFS)
def test_known_inclusion_proofs(index: int, size: int, expected: list[str]) -> None:
    hashes = [leaf_hash(data) for data in RFC6962_LEAVES]
    proof = inclusion_proof(build(hashes), index, size)
    assert [value.hex() for value in proof] == expected
    verify_inclusion(hashes[index], index, size, proof, bytes.fromhex(RFC6962_ROOTS[size]))


@pytest.mark.parametrize(("size1", "size2", "expected"), RFC6962_CONSISTENCY_PROOFS)
def test_known_consistency_proofs(size1: int, size2: int, expected: list[str]) -> None:
    store = build([leaf_hash(data) for data in RFC6962_LEAVES])
    proof = consistency_proof(store, size1, size2)
    assert [value.hex() for value in proof] == expected
    root1, root2 = (bytes.fromhex(RFC6962_ROOTS[size]) for size in (size1, size2))
    verify_consistency(size1, size2, proof, root1, root2)


# --- every proof of a small tree ------------------------------------------------------------------


def test_every_proof_of_a_small_tree_matches_the_reference_and_verifies() -> None:
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(33)]
    store = build(hashes)
    roots = [root_from_leaf_hashes(hashes[:size]) for size in range(len(hashes) + 1)]
    for size2 in range(1, len(hashes) + 1):
        for index in range(size2):
            proof = inclusion_proof(store, index, size2)
            assert proof == reference_path(index, hashes[:size2])
            verify_inclusion(hashes[index], index, size2, proof, roots[size2])
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(store, size1, size2)
            assert proof == reference_consistency(size1, size2, hashes)
            verify_consistency(size1, size2, proof, roots[size1], roots[size2])


def test_consistency_from_the_empty_tree_is_meaningless() -> None:
    # As transparency-dev/merkle: nothing to prove, so no proof, and the verifier refuses size 0.
    store = build([leaf_hash(b"a")])
    assert consistency_proof(store, 0, 1) == []
    with pytest.raises(ProofError):
        verify_consistency(0, 1, [], EMPTY_ROOT, root(store, 1))
    with pytest.raises(ProofError):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


# --- properties over random trees -----------------------------------------------------------------


def leaf_hash_lists(unique: bool) -> st.SearchStrategy[list[bytes]]:
    # The size is drawn first: plain st.lists keeps to a handful of leaves, and the interesting
    # shapes (several levels of ragged right edge) need trees of tens to hundreds of leaves.
    return st.integers(1, 200).flatmap(
        lambda n: st.lists(st.binary(max_size=3), min_size=n, max_size=n, unique=unique).map(
            lambda items: [leaf_hash(item) for item in items]
        )
    )


leaf_lists = leaf_hash_lists(unique=False)
# Distinct leaves: with repeated leaves a proof for one position can honestly prove another.
distinct_leaf_lists = leaf_hash_lists(unique=True)
PROPERTY_SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def draw_pairs(data: st.DataObject, n: int, strict: bool) -> list[tuple[int, int]]:
    """Every (a, b) with 1 <= b <= n and a < b (strict) or 1 <= a <= b; a sample when n is large."""
    low = 0 if strict else 1

    def pairs_up_to(b: int) -> range:
        return range(low, b) if strict else range(low, b + 1)

    if n <= 12:
        return [(a, b) for b in range(1, n + 1) for a in pairs_up_to(b)]
    pair = st.integers(1, n).flatmap(
        lambda b: st.tuples(st.sampled_from(pairs_up_to(b)), st.just(b))
    )
    return data.draw(st.lists(pair, min_size=1, max_size=12))


@PROPERTY_SETTINGS
@given(leaves=leaf_lists, data=st.data())
def test_generated_proofs_match_the_reference_and_verify(
    leaves: list[bytes], data: st.DataObject
) -> None:
    store = build(leaves)
    for index, size in draw_pairs(data, len(leaves), strict=True):
        proof = inclusion_proof(store, index, size)
        assert proof == reference_path(index, leaves[:size])
        verify_inclusion(leaves[index], index, size, proof, root_from_leaf_hashes(leaves[:size]))
    for size1, size2 in draw_pairs(data, len(leaves), strict=False):
        proof = consistency_proof(store, size1, size2)
        assert proof == reference_consistency(size1, size2, leaves)
        root1, root2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves[:size2])
        verify_consistency(size1, size2, proof, root1, root2)


@PROPERTY_SETTINGS
@given(leaves=distinct_leaf_lists, data=st.data())
def test_a_changed_inclusion_claim_is_refused(leaves: list[bytes], data: st.DataObject) -> None:
    store = build(leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, tree_root = inclusion_proof(store, index, size), root_from_leaf_hashes(leaves[:size])
    verify_inclusion(leaves[index], index, size, proof, tree_root)

    other_leaf = data.draw(st.sampled_from([*leaves[:index], *leaves[index + 1 :], EMPTY_ROOT]))
    assert fails(verify_inclusion, other_leaf, index, size, proof, tree_root)
    assert fails(verify_inclusion, leaves[index], index, size, proof, flip_bit(tree_root))
    for position in range(len(proof)):
        tampered = [*proof[:position], flip_bit(proof[position], 3), *proof[position + 1 :]]
        assert fails(verify_inclusion, leaves[index], index, size, tampered, tree_root)
    assert fails(verify_inclusion, leaves[index], index, size, [*proof, tree_root], tree_root)
    assert fails(verify_inclusion, leaves[index], index, size, [tree_root, *proof], tree_root)
    if proof:
        assert fails(verify_inclusion, leaves[index], index, size, proof[:-1], tree_root)
    for other_index in {index - 1, index + 1, index ^ 2, *range(min(size, 40))} - {index}:
        assert fails(verify_inclusion, leaves[index], other_index, size, proof, tree_root)
    # A proof fixes the shape of the path, not the size: the signed checkpoint fixes the size.
    # Any size with another shape is refused (doubling the size always changes the shape).
    other_sizes = {size * 2, size // 2, *range(index + 1, index + 80)} - {size}
    for other_size in other_sizes:
        same_shape = other_size > index and (
            inclusion_shape(index, other_size) == inclusion_shape(index, size)
        )
        refused = fails(verify_inclusion, leaves[index], index, other_size, proof, tree_root)
        assert refused != same_shape
    assert fails(verify_inclusion, leaves[index], index, size * 2, proof, tree_root)


@PROPERTY_SETTINGS
@given(leaves=distinct_leaf_lists.filter(lambda leaves: len(leaves) >= 2), data=st.data())
def test_a_changed_consistency_claim_is_refused(leaves: list[bytes], data: st.DataObject) -> None:
    store = build(leaves)
    size2 = data.draw(st.integers(2, len(leaves)), label="size2")
    size1 = data.draw(st.integers(1, size2 - 1), label="size1")
    proof = consistency_proof(store, size1, size2)
    root1, root2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves[:size2])
    verify_consistency(size1, size2, proof, root1, root2)

    assert fails(verify_consistency, size1, size2, proof, flip_bit(root1), root2)
    assert fails(verify_consistency, size1, size2, proof, root1, flip_bit(root2))
    assert fails(verify_consistency, size1, size2, proof, root2, root1)
    assert fails(verify_consistency, size1, size2, [], root1, root2)
    for position in range(len(proof)):
        tampered = [*proof[:position], flip_bit(proof[position]), *proof[position + 1 :]]
        assert fails(verify_consistency, size1, size2, tampered, root1, root2)
    for extra in (root1, root2, proof[0]):
        assert fails(verify_consistency, size1, size2, [*proof, extra], root1, root2)
        assert fails(verify_consistency, size1, size2, [extra, *proof], root1, root2)
    assert fails(verify_consistency, size1, size2, proof[:-1], root1, root2)
    # The size changes of transparency-dev/merkle's verify_test.go; any other earlier size too.
    probes = {(size1 - 1, size2), (size1 + 1, size2), (size1 ^ 2, size2), (size1, size2 * 2)}
    probes |= {(size1, size2 // 2)} | {(other, size2) for other in range(1, size2 + 1)}
    for other1, other2 in probes - {(size1, size2)}:
        assert fails(verify_consistency, other1, other2, proof, root1, root2)


@PROPERTY_SETTINGS
@given(leaves=leaf_lists)
def test_the_appender_stores_each_perfect_subtree_once_and_tracks_the_root(
    leaves: list[bytes],
) -> None:
    compact, stored = CompactRange(), MemoryNodeStore()
    written: list[NodeKey] = []
    for size, value in enumerate(leaves, start=1):
        compact, nodes = compact.append(value)
        stored.put(nodes)
        written += [node.key for node in nodes]
        assert compact.size == size
        assert compact.root() == root_from_leaf_hashes(leaves[:size])
        assert compact.keys() == compact_range_keys(size)
    assert len(written) == len(set(written))
    expected = {
        (level, index)
        for level in range(len(leaves).bit_length())
        for index in range(len(leaves) >> level)
    }
    assert set(written) == expected
    for level, index in expected:
        width = 1 << level
        covered = leaves[index * width : (index + 1) * width]
        assert stored.node(level, index) == root_from_leaf_hashes(covered)
    assert CompactRange.load(stored, len(leaves)) == compact


@PROPERTY_SETTINGS
@given(leaves=leaf_lists, data=st.data())
def test_a_restarted_appender_continues_the_same_tree(
    leaves: list[bytes], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(leaves)), label="cut")
    first, nodes = CompactRange().extend(leaves[:cut])
    store = MemoryNodeStore(nodes)
    resumed, more = CompactRange.load(store, cut).extend(leaves[cut:])
    store.put(more)
    assert resumed == CompactRange().extend(leaves)[0]
    assert root(store, len(leaves)) == root_from_leaf_hashes(leaves)
    edge, completed = first.hashes, []
    for offset, value in enumerate(leaves[cut:]):
        step, edge = nodes_completed_by_append(cut + offset, value, edge)
        completed += step
    assert completed == more


@PROPERTY_SETTINGS
@given(leaves=leaf_lists, data=st.data())
def test_subtree_root_matches_the_reference_for_any_range(
    leaves: list[bytes], data: st.DataObject
) -> None:
    store = build(leaves)
    n = len(leaves)
    for _ in range(10):
        end = data.draw(st.integers(1, n), label="end")
        begin = data.draw(st.integers(0, end - 1), label="begin")
        assert subtree_root(store, begin, end) == root_from_leaf_hashes(leaves[begin:end])
        width = 1 << (end - begin - 1).bit_length()
        if begin % width == 0:
            # The ranges proofs use: at most one stored node per level.
            assert len(range_node_keys(begin, end)) <= (end - begin).bit_count()
    assert subtree_root(store, n, n) == EMPTY_ROOT


# --- storage access -------------------------------------------------------------------------------


class CountingBatchReader:
    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.calls: list[Sequence[NodeKey]] = []

    def node(self, level: int, index: int) -> bytes:
        raise AssertionError("a batch reader should be asked once, in a batch")

    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.calls.append(keys)
        return self.store.nodes(keys)


class SingleNodeReader:
    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.reads = 0

    def node(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.store.node(level, index)


def test_a_proof_costs_one_batch_of_logarithmically_many_nodes() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(1000)]
    reader = CountingBatchReader(build(hashes))
    proof = inclusion_proof(reader, 517, 999)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) <= 2 * 10
    verify_inclusion(hashes[517], 517, 999, proof, root_from_leaf_hashes(hashes[:999]))
    consistency_proof(reader, 377, 999)
    assert len(reader.calls) == 2
    assert len(reader.calls[1]) <= 2 * 10


def test_a_plain_node_reader_works_too() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(100)]
    store = build(hashes)
    reader = SingleNodeReader(store)
    assert inclusion_proof(reader, 37, 100) == inclusion_proof(store, 37, 100)
    assert 0 < reader.reads <= 2 * 7


def test_a_missing_node_is_an_error_not_a_wrong_proof() -> None:
    _, nodes = CompactRange().extend([leaf_hash(bytes([i])) for i in range(5)])
    partial = MemoryNodeStore(node for node in nodes if node.key != (1, 1))
    with pytest.raises(KeyError):
        inclusion_proof(partial, 0, 5)
    with pytest.raises(KeyError):
        inclusion_proof(SingleNodeReader(partial), 0, 5)


def test_bad_arguments_are_refused() -> None:
    store = build([leaf_hash(b"a"), leaf_hash(b"b")])
    with pytest.raises(ValueError, match="index"):
        inclusion_proof(store, 2, 2)
    with pytest.raises(ValueError, match="size1"):
        consistency_proof(store, 2, 1)
    with pytest.raises(ValueError, match="right-edge"):
        CompactRange(3, (leaf_hash(b"a"),))
    with pytest.raises(ValueError, match="leaf hash"):
        CompactRange().append(b"short")
