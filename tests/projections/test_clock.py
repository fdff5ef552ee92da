"""One clock: with the node's clock stopped, every entry's `at`, a transaction payload's `at`
and every projection's times are that one instant."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from civitas.node import Node
from ledger.entry import format_timestamp
from ledger.envelope import unpack
from projections.statistics import authentications_per_day, median_days_to_decision
from tests.case_checks import as_agency
from tests.conftest import ready_node
from tests.projections.test_timeline import signed_in_citizen

ACTOR = "service:records-office"
STOPPED = datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)


def rebuild_all(node: Node) -> None:
    head = node.store.recorder.max_notification_id()
    resets = {
        "timeline": node.timeline_view.reset,
        "queue": node.queue_view.reset,
        "statistics": node.statistics_view.reset,
    }
    for projection in node.projections():
        assert projection.rebuild(resets[projection.name], head, 60)


def test_entries_payloads_and_projections_read_the_one_stopped_clock(
    tmp_path: Path, database_url: str
) -> None:
    node = ready_node(tmp_path / "data", database_url, clock=lambda: STOPPED)
    try:
        citizen = signed_in_citizen(node, "C-1")
        case = node.transactions.submit(
            "records", "k-1", "records.request", citizen, None, None, [], "", ACTOR
        )
        node.transactions.start_review(as_agency("records"), case.id, "assigned", ACTOR)
        node.transactions.approve(as_agency("records"), case.id, "in order", ACTOR)
        rebuild_all(node)

        notifications = node.store.recorder.select_notifications(start=1, limit=1000)
        entries = [
            unpack(n.originator_id, n.topic, n.originator_version, n.state).entry
            for n in notifications
        ]
        assert {entry.at for entry in entries} == {format_timestamp(STOPPED)}
        payload_times = {
            event.at
            for event in map(node.store.mapper.to_domain_event, notifications)
            if hasattr(event, "at")
        }
        assert payload_times == {STOPPED}

        rows = node.queue_view.queue("records", [], "", 10)
        assert [(row.submitted_at, row.decided_at) for row in rows] == [(STOPPED, STOPPED)]
        items = node.timeline_view.items(citizen)
        assert {item.kind for item in items} >= {"sign_in", "session", "transaction"}
        assert {item.at for item in items} == {STOPPED}
        days = {count["day"] for count in authentications_per_day(node.statistics_view)}
        assert days == {STOPPED.date().isoformat()}
        assert median_days_to_decision(node.statistics_view) == {"records.request": 0.0}
    finally:
        node.close()
