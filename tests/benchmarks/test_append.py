"""benchmarks/append.py still measures what it says, at a size a test can afford."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import append


def test_both_stores_take_turns_over_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(append, "AGGREGATES", 4)
    monkeypatch.setattr(append, "ROUND", 2)
    monkeypatch.setattr(append, "BATCH", 2)
    plain = append.plain_app(tmp_path)
    node = append.signed_node(tmp_path)
    signed = append.SignedCases(node.store)
    stores: dict[str, append.Turn] = {
        "a": (plain.save, append.PlainCase),
        "b": (signed.save, append.SignedCase),
    }
    try:
        for mode in (append.per_save, append.batched):
            rates = append.taking_turns(mode, stores)
            assert sorted(rates) == ["a", "b"]
            assert min(rates.values()) > 0
        events = 2 * 4 * append.EVENTS_PER_AGGREGATE  # both modes
        assert plain.recorder.max_notification_id() == events
        assert node.store.recorder.max_notification_id() == events
        notifications = node.store.recorder.select_notifications(start=1, limit=events)
        for notification in notifications:
            node.store.mapper.open(notification)  # signed and checked
    finally:
        plain.close()
        node.close()
