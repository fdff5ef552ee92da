"""RFC 9162 hashing and proofs against the transparency-dev vectors and a recursive reference."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.rfc9162_tree import consistency_proof, inclusion_path, mth, mth_leaf
from tests.vectors import MERKLE
from verifier import merkle

VECTORS = MERKLE
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _proof(nodes: list[str] | None) -> list[bytes]:
    return [_b64(node) for node in nodes or []]


def _name(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_the_vector_sets_are_there() -> None:
    assert len(INCLUSION) > 50
    assert len(CONSISTENCY) > 50


@pytest.mark.parametrize("path", INCLUSION, ids=_name)
def test_inclusion_vectors(path: Path) -> None:
    vector = json.loads(path.read_text())
    arguments = (
        vector["leafIdx"],
        vector["treeSize"],
        _b64(vector["leafHash"]),
        _proof(vector["proof"]),
        _b64(vector["root"]),
    )
    if vector["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*arguments)
    else:
        merkle.verify_inclusion(*arguments)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_name)
def test_consistency_vectors(path: Path) -> None:
    vector = json.loads(path.read_text())
    arguments = (
        vector["size1"],
        vector["size2"],
        _b64(vector["root1"]),
        _b64(vector["root2"]),
        _proof(vector["proof"]),
    )
    if vector["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*arguments)
    else:
        merkle.verify_consistency(*arguments)


def test_roots_of_the_rfc6962_reference_tree() -> None:
    tree = json.loads((VECTORS / "tree8.json").read_text())
    leaves = [merkle.leaf_hash(bytes.fromhex(data)) for data in tree["leaf_inputs"]]
    compact = merkle.CompactRange()
    assert compact.root().hex() == tree["roots"][0]
    for size, leaf in enumerate(leaves, start=1):
        compact.append(leaf)
        assert compact.root().hex() == tree["roots"][size]


@given(st.lists(st.binary(max_size=8), max_size=80))
def test_streaming_root_equals_the_recursive_definition(data: list[bytes]) -> None:
    leaves = [mth_leaf(item) for item in data]
    compact = merkle.CompactRange()
    compact.extend(b"".join(leaves))
    assert compact.size == len(leaves)
    assert compact.root() == mth(leaves)


def test_extend_in_pieces_equals_append() -> None:
    leaves = [mth_leaf(bytes([i])) for i in range(37)]
    whole, pieces = merkle.CompactRange(), merkle.CompactRange()
    whole.extend(b"".join(leaves))
    for cut in range(0, 37, 5):
        pieces.extend(b"".join(leaves[cut : cut + 5]))
    assert whole.root() == pieces.root() == mth(leaves)


def test_every_inclusion_proof_of_small_trees_verifies_and_a_wrong_leaf_does_not() -> None:
    leaves = [mth_leaf(bytes([i])) for i in range(17)]
    for size in range(1, 18):
        root = mth(leaves[:size])
        for index in range(size):
            proof = inclusion_path(index, leaves[:size])
            merkle.verify_inclusion(index, size, leaves[index], proof, root)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(index, size, mth_leaf(b"other"), proof, root)


def test_every_consistency_proof_of_small_trees_verifies_and_a_fork_does_not() -> None:
    leaves = [mth_leaf(bytes([i])) for i in range(17)]
    forked = [*leaves[:8], mth_leaf(b"fork"), *leaves[9:]]
    for size2 in range(2, 18):
        for size1 in range(1, size2):
            proof = consistency_proof(size1, leaves[:size2])
            root1, root2 = mth(leaves[:size1]), mth(leaves[:size2])
            merkle.verify_consistency(size1, size2, root1, root2, proof)
            if size1 > 8:  # the old tree holds the forked leaf: no proof links it to the new one
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(size1, size2, mth(forked[:size1]), root2, proof)


def test_a_shrinking_or_forked_tree_is_named() -> None:
    with pytest.raises(merkle.ProofError, match="shrank"):
        merkle.verify_consistency(5, 4, b"a" * 32, b"b" * 32, [])
    with pytest.raises(merkle.ProofError, match="forked"):
        merkle.verify_consistency(5, 5, b"a" * 32, b"b" * 32, [])
