"""Tile paths and tile contents (ledger/tiles.py) against the C2SP tlog-tiles text, and the
entry size that an entry bundle's uint16 length allows."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civitas.node import Node
from ledger.accounts import ServiceAccount
from ledger.log_recorder import LogLeaf, StoredCheckpoint
from ledger.mapper import OversizedEntry
from ledger.merkle import CompactRange, root_from_leaf_hashes
from ledger.tiles import (
    LogTiles,
    Tile,
    TileNotFound,
    TilePathError,
    TileStorageError,
    bundle_entries,
    encode_index,
    parse_tile_path,
)
from tests.ledger.memory_node_store import MemoryNodeStore
from tests.tiles_client import tile_path


class MemoryRows:
    """`TreeRows` over an in-memory tree: node rows only (no entries)."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store

    def node_range(self, level: int, start: int, stop: int) -> list[bytes]:
        found = self.store.nodes([(level, index) for index in range(start, stop)])
        return [found[(level, index)] for index in range(start, stop) if (level, index) in found]

    def leaves(self, start: int, stop: int, limit: int) -> list[LogLeaf]:
        return []


def tiles_of(size: int) -> tuple[LogTiles, list[bytes]]:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size)]
    tree, nodes = CompactRange().extend(leaves)
    checkpoint = StoredCheckpoint(size, tree.root(), "")
    return LogTiles(MemoryRows(MemoryNodeStore(nodes)), lambda: checkpoint), leaves


def test_the_spec_example_paths() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert parse_tile_path("tile/0/x001/x234/067") == Tile(0, 1234067, 256)
    assert parse_tile_path("tile/entries/x001/x234/067.p/8") == Tile(None, 1234067, 8)


@given(
    st.one_of(st.none(), st.integers(0, 63)),
    st.integers(0, 10**20),
    st.integers(1, 256),
)
def test_every_tile_path_parses_back_and_matches_the_outside_client(
    level: int | None, index: int, width: int
) -> None:
    tile = Tile(level, index, width)
    assert parse_tile_path(tile.path()) == tile
    assert tile.path() == tile_path("entries" if level is None else level, index, width)


@pytest.mark.parametrize(
    "path",
    ["tile/0/1000", "tile/0/x000/001", "tile/0/000/", "/tile/0/000", "tile/0/000.p/256",
     "tile/entries/000.p/0", "tile/64/000", "tile/1/000.p/01", "tile//000", "tile/0/000.p/1/2"],
)  # fmt: skip
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


def test_a_tree_of_70000_is_the_tiles_the_spec_lists() -> None:
    """C2SP: 273 full level-0 tiles, one of width 112, one full level-1 tile, one of width 17,
    and a level-2 tile of width 1; nothing else."""
    tiles, leaves = tiles_of(70_000)
    for served in (Tile(0, 272, 256), Tile(0, 273, 112), Tile(1, 0, 256), Tile(1, 1, 17)):
        assert len(tiles.read(served)) == 32 * served.width
    assert tiles.read(Tile(0, 273, 112)) == b"".join(leaves[273 * 256 : 70_000])
    level_two = tiles.read(Tile(2, 0, 1))
    assert level_two == root_from_leaf_hashes(leaves[:65_536])
    level_one = tiles.read(Tile(1, 1, 17))
    assert level_one[:32] == root_from_leaf_hashes(leaves[65_536 : 65_536 + 256])
    for beyond in (
        Tile(0, 273, 113),
        Tile(0, 274, 1),
        Tile(1, 1, 18),
        Tile(2, 0, 2),
        Tile(3, 0, 1),
    ):
        with pytest.raises(TileNotFound):
            tiles.read(beyond)


def test_a_tile_the_store_lacks_is_an_error_not_a_short_tile() -> None:
    tiles, _ = tiles_of(300)
    assert isinstance(tiles._view, MemoryRows)
    del tiles._view.store._nodes[(0, 7)]
    with pytest.raises(TileStorageError, match="255 of 256"):
        tiles.read(Tile(0, 0, 256))


def bundle_lengths(bundle: bytes) -> Sequence[int]:
    lengths, at = [], 0
    while at < len(bundle):
        (length,) = struct.unpack_from(">H", bundle, at)
        lengths.append(length)
        at += 2 + length
    return lengths


def test_bundles_carry_entries_up_to_65535_bytes() -> None:
    assert bundle_lengths(bundle_entries([b"a", b"", b"x" * 65_535])) == [1, 0, 65_535]
    with pytest.raises(TileStorageError):
        bundle_entries([b"x" * 65_536])


def test_no_entry_too_long_for_a_bundle_is_signed(node: Node) -> None:
    """An actor of 11,000 control characters fits the stored frame (its UTF-8 is 11,000 bytes),
    but JSON escapes each as 6 bytes: the canonical entry would be 66,000 bytes and more."""
    before = node.store.recorder.max_notification_id()
    with pytest.raises(OversizedEntry):
        node.accounts.save(ServiceAccount("long", "agency:test", "0" * 64, actor="\x01" * 11_000))
    assert node.store.recorder.max_notification_id() == before
    node.accounts.save(ServiceAccount("short", "agency:test", "0" * 64, actor="\x01" * 10_000))
