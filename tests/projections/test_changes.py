"""The timeline's change feed wakes watchers when rows commit, and says whose timelines grew:
PostgreSQL NOTIFY carries each citizen id; SQLite's probe reads them from the new rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from civitas.config import build_config
from civitas.node import Node
from ledger.sql_dialect import MAX_NOTIFY_PAYLOAD_BYTES
from projections.changes import EVERYONE, ChangeFeed, Keys, PostgresChangeFeed, ProbingFeed
from projections.history import WATCH_PROBE_MOST_ROWS
from projections.timeline_view import TimelineItem
from tests.conftest import ready_node


class Heard:
    """What a feed told its listeners, in order."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.moves: list[Keys] = []
        self._arrived = threading.Condition()
        feed.on_change(self._hear)

    def _hear(self, keys: Keys) -> None:
        with self._arrived:
            self.moves.append(keys)
            self._arrived.notify_all()

    def arrived(self, count: int, timeout: float = 5.0) -> bool:
        """Whether there are at least `count` moves, waiting up to `timeout` for them."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.moves) >= count, timeout)

    def settled(self, count: int, timeout: float = 5.0) -> list[Keys]:
        """The moves so far, once there are at least `count`, and nothing more is coming."""
        self.arrived(count, timeout)
        time.sleep(0.3)
        return list(self.moves)


def _item(node: Node, citizen: str, position: int) -> TimelineItem:
    at = node.audit.keyring().entry_keys[0].not_before
    kind, event = "identity", "identity.Citizen.Registered"
    return TimelineItem(citizen, position, at, kind, event, "s", 1, {})


def record(node: Node, citizens: list[str], last_position: int) -> int:
    """One transaction with a row for each of `citizens`; the position after them."""
    first = last_position + 1
    items = [_item(node, c, first + i) for i, c in enumerate(citizens)]
    node.timeline_view.record(items, [], Tracking("ledger", first + len(items) - 1))
    return first + len(items) - 1


def test_a_commit_to_the_timeline_wakes_a_waiting_watcher(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    node = Node(
        build_config(data_dir=str(tmp_path / "d"), database=postgres_schema_url, environ={})
    )
    node.initialise("civitas.test/log")
    feed = node.timeline_changes
    assert isinstance(feed, PostgresChangeFeed)
    heard = Heard(feed)
    time.sleep(0.3)  # the listener is connected
    before = len(heard.moves)
    started = time.monotonic()
    record(node, ["c1"], 0)
    assert heard.arrived(before + 1)
    assert time.monotonic() - started < 1.0
    node.close()


@pytest.fixture
def listened(tmp_path: Path, database_url: str) -> Iterator[tuple[Node, Heard]]:
    node = ready_node(tmp_path / "data", database_url)
    heard = Heard(node.timeline_changes)
    heard.settled(1)  # the first look (SQLite) or the LISTEN (PostgreSQL): anyone's
    yield node, heard
    node.close()


def test_each_move_names_the_citizens_whose_timelines_grew(
    listened: tuple[Node, Heard],
) -> None:
    node, heard = listened
    assert heard.moves[-1] is EVERYONE
    before = len(heard.moves)
    record(node, ["alice", "bob", "alice"], 0)
    moves = heard.settled(before + 1)[before:]
    if isinstance(node.timeline_changes, PostgresChangeFeed):
        assert sorted(moves, key=str) == [frozenset({"alice"}), frozenset({"bob"})]  # folded
    else:
        assert moves == [frozenset({"alice", "bob"})]


def test_too_many_rows_for_the_probe_or_a_payload_too_long_wake_everyone(
    listened: tuple[Node, Heard],
) -> None:
    node, heard = listened
    before = len(heard.moves)
    if isinstance(node.timeline_changes, ProbingFeed):
        record(node, [f"c{i}" for i in range(WATCH_PROBE_MOST_ROWS + 1)], 0)
    else:  # the transaction still commits: the payload goes empty
        record(node, ["x" * (MAX_NOTIFY_PAYLOAD_BYTES + 1)], 0)
    assert heard.settled(before + 1)[before:] == [EVERYONE]
    assert node.timeline_view.latest_position() > 0
