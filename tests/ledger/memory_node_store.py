"""An in-memory node store for the Merkle tests (the node stores in use are the log recorders)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ledger.merkle import Node, NodeKey


class MemoryNodeStore:
    """A dict of perfect subtree nodes: a `NodeReader` for tests that build a tree in memory."""

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self.put(nodes)

    def put(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            self._nodes[node.key] = node.hash

    def node(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]

    def nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def __len__(self) -> int:
        return len(self._nodes)
