"""Watchers are woken by PostgreSQL NOTIFY when the timeline commits rows (no polling wait)."""

from __future__ import annotations

import time
from pathlib import Path

from eventsourcing.persistence import Tracking

from civitas.config import build_config
from civitas.node import Node
from projections.changes import PostgresChangeFeed
from projections.timeline_view import TimelineItem


def test_a_commit_to_the_timeline_wakes_a_waiting_watcher(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    node = Node(
        build_config(data_dir=str(tmp_path / "d"), database=postgres_schema_url, environ={})
    )
    node.initialise("civitas.test/log")
    feed = node.timeline_changes
    assert isinstance(feed, PostgresChangeFeed)
    time.sleep(0.3)  # the listener is connected
    before = feed.generation
    item = TimelineItem(
        "c1",
        1,
        node.audit.keyring().entry_keys[0].not_before,
        "identity",
        "identity.Citizen.Registered",
        "s",
        1,
        {},
    )
    started = time.monotonic()
    node.timeline_view.record([item], [], Tracking("ledger", 1))
    feed.wait(before, timeout=5)
    assert feed.generation > before
    assert time.monotonic() - started < 1.0
    node.close()
