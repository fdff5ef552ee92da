"""The read models as auditors read them: one snapshot, its tree size, every row in key order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from eventsourcing.persistence import Tracking

from civitas.node import Node
from ledger.errors import InvalidInput, Unavailable
from ledger.store import LOG_NAME
from projections.audit_projection import (
    RETRY_SECONDS,
    AuditedQueueRow,
    AuditedStatisticsRow,
    AuditedTimelineRow,
    ProjectionPosition,
    served_time,
)
from projections.registry import audited_projections
from projections.statistics_view import AuthCount, CaseTimes
from tests.ledger.test_sequencer import write_accounts
from tests.projections.test_timeline import ACTOR, signed_in_citizen


def _catch_up(node: Node, *names: str) -> None:
    target = node.store.recorder.max_notification_id()
    for projection in node.projections():
        if projection.name in names:
            assert projection.catch_up(target, 30)


def test_rows_come_with_the_tree_size_they_reflect(node: Node) -> None:
    audited = audited_projections(node.projection_view, sequencer_wait=0.2)
    assert list(audited.stream("queue")) == [ProjectionPosition("queue", 0, 0)]

    citizen = signed_in_citizen(node, "A-1")
    cases = [
        node.transactions.submit(
            "tax", key, "tax.return", citizen, None, None, [], "", actor=ACTOR
        ).id
        for key in ("k-2", "k-1")
    ]
    _catch_up(node, "queue", "timeline")
    with pytest.raises(Unavailable) as raised:  # the sequencer has not reached the projections
        list(audited.stream("timeline"))
    assert (raised.value.reason, raised.value.retry_after) == ("NOT_YET_SEQUENCED", RETRY_SECONDS)
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())

    position, *rows = audited.stream("queue")
    assert isinstance(position, ProjectionPosition)
    assert position.tree_size == node.log_view.tree_size()
    assert all(isinstance(row, AuditedQueueRow) for row in rows)
    assert [row.transaction_id for row in rows] == sorted(cases)  # type: ignore[union-attr]
    assert {row.status for row in rows} == {"SUBMITTED"}  # type: ignore[union-attr]

    position, *items = audited.stream("timeline")
    assert isinstance(position, ProjectionPosition)
    timeline = [item for item in items if isinstance(item, AuditedTimelineRow)]
    # registered, activation code issued and used, password, sign-in, session, 2 cases
    assert len(timeline) == len(items) == 8
    leaves = [item.leaf_index or 0 for item in timeline]
    assert None not in [item.leaf_index for item in timeline]
    assert leaves == sorted(leaves)  # one citizen: in ledger order
    assert leaves[-1] < position.tree_size
    assert all(item.at.endswith("Z") and len(item.at) == 27 for item in timeline)


def test_only_the_audited_read_models_can_be_asked_for(node: Node) -> None:
    audited = audited_projections(node.projection_view)
    with pytest.raises(InvalidInput) as raised:
        list(audited.stream("sessions"))
    assert [violation.field for violation in raised.value.violations] == ["name"]


def test_the_statistics_are_served_from_both_tables(node: Node) -> None:
    """Issue 15: the statistics are audited too (one UNION of its two tables, typed alike on
    SQLite and PostgreSQL)."""
    view = node.statistics_view
    day = date(2026, 3, 1)
    submitted = datetime(2026, 3, 1, 9, tzinfo=UTC)
    counts = [AuthCount(day, "password", "success", 2)]
    cases = [CaseTimes("case-1", "tax.return", submitted, submitted + timedelta(days=2))]
    write_accounts(node, 1)
    position = node.store.recorder.max_notification_id()
    assert position is not None
    assert node.sequencer().catch_up(position)
    view.record(counts, cases, Tracking(LOG_NAME, position))
    rows = list(audited_projections(node.projection_view, sequencer_wait=0).stream("statistics"))
    assert rows[1:] == [
        AuditedStatisticsRow(
            "auth", day="2026-03-01", method="password", outcome="success", count=2
        ),
        AuditedStatisticsRow(
            "case",
            transaction_id="case-1",
            service_code="tax.return",
            submitted_at="2026-03-01T09:00:00.000000Z",
            decided_at="2026-03-03T09:00:00.000000Z",
        ),
    ]


def test_stored_times_are_served_in_the_entry_form() -> None:
    assert served_time("2026-03-01T09:00:00+00:00") == "2026-03-01T09:00:00.000000Z"
    assert served_time("2026-03-01T11:00:00.5+02:00") == "2026-03-01T09:00:00.500000Z"
    assert served_time(None) == ""
    assert served_time("yesterday") == "yesterday"  # damaged text reaches the auditor as is
