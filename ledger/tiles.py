"""The log as C2SP tlog-tiles: hash tiles and entry bundles read from the stored tree.

A tile at level L, index N and width W holds the hashes MTH(D[(N·256 + i)·256^L :
(N·256 + i + 1)·256^L]) for i in [0, W): each one is a perfect subtree, so it is the stored node
(8·L, N·256 + i) of `MerkleLogRecorder` (ledger/merkle.py's storage model), and a tile is one
range query on one level. An entry bundle holds the canonical entries of leaves
[N·256, N·256 + W), each as a big-endian uint16 length and the bytes whose leaf hash is in the
level-0 tile: the same bytes every auditor verifies (docs/ledger-format.md section 1).

Only what the published checkpoint covers is served: a tile or bundle whose last leaf is at or
beyond that checkpoint's size is `TileNotFound`, so a client never sees a tile of a tree no
checkpoint vouches for, and every read is at most 256 rows.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ledger.entry import MAX_ENTRY_BYTES
from ledger.envelope import unpack
from ledger.log_recorder import LogLeaf, StoredCheckpoint

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile, entries in a full bundle
HASH_SIZE = 32
MAX_LEVEL = 63  # C2SP: <L> is 0 to 63
# An index of 7 groups reaches 10^21 - 1, beyond any 64-bit tree size: longer paths are refused
# before anything is read.
MAX_INDEX_GROUPS = 7

_LENGTH = struct.Struct(">H")
_LEVEL = r"(?P<level>0|[1-9][0-9]?)"
_INDEX = r"(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
_WIDTH = r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
_HASH_TILE = re.compile(rf"tile/{_LEVEL}/{_INDEX}{_WIDTH}")
_ENTRY_BUNDLE = re.compile(rf"tile/entries/{_INDEX}{_WIDTH}")


class TilePathError(ValueError):
    """The path is not a tlog-tiles tile or entry-bundle path (HTTP 400)."""


class TileNotFound(LookupError):
    """The path is well formed, but the published checkpoint does not cover it (HTTP 404)."""


class TileStorageError(RuntimeError):
    """The store lacks what the checkpoint says it holds, or holds an entry too long to serve."""


@dataclass(frozen=True, slots=True)
class Tile:
    """A hash tile (`level` 0 to 63) or an entry bundle (`level` None), `width` 1 to 256."""

    level: int | None
    index: int
    width: int

    @property
    def is_bundle(self) -> bool:
        return self.level is None

    def leaves_needed(self) -> int:
        """The tree size from which this tile exists: the end of the range its last hash covers."""
        span: int = TILE_WIDTH ** (self.level or 0)
        return (self.index * TILE_WIDTH + self.width) * span

    def path(self) -> str:
        """Its path under the log's prefix, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[…]`."""
        kind = "entries" if self.level is None else str(self.level)
        suffix = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"tile/{kind}/{encode_index(self.index)}{suffix}"


def encode_index(index: int) -> str:
    """`<N>` in zero-padded 3-digit groups, all but the last prefixed with `x`: 1234067 is
    `x001/x234/067`."""
    if index < 0:
        raise ValueError(f"a tile index is not negative, got {index}")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> Tile:
    """The tile a path names (without the prefix and its slash); `TilePathError` for any other
    path, including a level above 63, a width of 0 or above 255, and leading zeros."""
    for pattern in (_HASH_TILE, _ENTRY_BUNDLE):
        match = pattern.fullmatch(path)
        if match:
            break
    else:
        raise TilePathError(f"not a tile path: {path[:80]!r}")
    groups = match["index"].split("/")
    if len(groups) > MAX_INDEX_GROUPS:
        raise TilePathError(f"tile index has more than {MAX_INDEX_GROUPS} groups")
    level = None if pattern is _ENTRY_BUNDLE else int(match["level"])
    if level is not None and level > MAX_LEVEL:
        raise TilePathError(f"tile level is 0 to {MAX_LEVEL}, got {level}")
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise TilePathError(f"a partial tile is 1 to {TILE_WIDTH - 1} wide, got {width}")
    tile = Tile(level, int("".join(group.lstrip("x") for group in groups)), width)
    if tile.path() != path:  # `x000/001` for `001`: one tile, one path (as Go's sumdb/tlog)
        raise TilePathError(f"not the canonical path of {tile.path()}")
    return tile


def bundle_entries(entries: list[bytes]) -> bytes:
    """Entries as a tlog-tiles bundle: each a big-endian uint16 length, then its bytes."""
    parts: list[bytes] = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise TileStorageError(f"an entry of {len(entry)} bytes does not fit a bundle")
        parts += (_LENGTH.pack(len(entry)), entry)
    return b"".join(parts)


class TreeRows(Protocol):
    """Where tiles are read from: `MerkleLogRecorder` (SQLite or PostgreSQL)."""

    def node_range(self, level: int, start: int, stop: int) -> list[bytes]: ...

    def leaves(self, start: int, stop: int, limit: int) -> list[LogLeaf]: ...


class LogTiles:
    """Reads tiles for the checkpoint the log publishes.

    `published_checkpoint` is `AuditLog.latest_checkpoint`, the function GetLatestCheckpoint
    answers with, so `/checkpoint` and the gRPC API can never show two different checkpoints.
    """

    def __init__(
        self, view: TreeRows, published_checkpoint: Callable[[], StoredCheckpoint]
    ) -> None:
        self._view = view
        self._published_checkpoint = published_checkpoint

    def checkpoint(self) -> StoredCheckpoint:
        return self._published_checkpoint()

    def read(self, tile: Tile) -> bytes:
        """The tile's bytes: one query for the checkpoint's size, one for the tile's rows."""
        size = self.checkpoint().tree_size
        if tile.leaves_needed() > size:
            raise TileNotFound(f"{tile.path()} is beyond the checkpoint's tree size {size}")
        if tile.level is None:
            return self._entry_bundle(tile)
        return self._hash_tile(tile.level, tile)

    def _hash_tile(self, level: int, tile: Tile) -> bytes:
        first = tile.index * TILE_WIDTH
        hashes = self._view.node_range(level * TILE_HEIGHT, first, first + tile.width)
        if len(hashes) != tile.width:
            raise TileStorageError(f"{tile.path()}: {len(hashes)} of {tile.width} nodes stored")
        return b"".join(hashes)

    def _entry_bundle(self, tile: Tile) -> bytes:
        first = tile.index * TILE_WIDTH
        leaves = self._view.leaves(first, first + tile.width, tile.width)
        if len(leaves) != tile.width:
            raise TileStorageError(f"{tile.path()}: {len(leaves)} of {tile.width} leaves stored")
        entries = [
            unpack(leaf.stream, leaf.topic, leaf.version, leaf.state).entry_bytes for leaf in leaves
        ]
        return bundle_entries(entries)
