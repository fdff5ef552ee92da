"""Statistics: sign-ins by method and outcome per day, median days to a decision per service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from civitas.node import Node
from identity.citizen import Presented
from identity.refusals import AuthenticationFailedError
from ledger.transactions import TransactionsApplication
from projections.statistics import authentications_per_day, median_days_to_decision
from tests.case_checks import as_agency
from tests.conftest import ready_node
from tests.projections.test_timeline import signed_in_citizen

ACTOR = "service:tax-portal"


def test_counts_and_medians(tmp_path: Path, database_url: str) -> None:
    now = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    node = ready_node(tmp_path / "data", database_url, clock=lambda: now[0])
    try:
        counts_and_medians(node, now)
    finally:
        node.close()


def counts_and_medians(node: Node, now: list[datetime]) -> None:
    citizen = signed_in_citizen(node, "S-1")  # one successful password sign-in
    challenge = node.identity.begin_authentication(citizen, "portal", ACTOR)
    with pytest.raises(AuthenticationFailedError):
        node.identity.complete_authentication(
            challenge.attempt_id, Presented(password="not it at all"), ("", ""), "portal", ACTOR
        )
    cases = TransactionsApplication(
        node.store, clock=lambda: now[0], citizen_exists=node.identity.citizen_exists
    )
    for key, decide, days in (("a", cases.approve, 2), ("b", cases.reject, 4), ("c", None, 0)):
        now[0] = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        view = cases.submit("records", key, "records.request", citizen, None, None, [], "", ACTOR)
        if decide is not None:
            cases.start_review(as_agency("records"), view.id, "assigned", ACTOR)
            now[0] += timedelta(days=days)
            decide(as_agency("records"), view.id, "decided", ACTOR)

    statistics = next(p for p in node.projections() if p.name == "statistics")
    assert statistics.rebuild(
        node.statistics_view.reset, node.store.recorder.max_notification_id(), 30
    )
    today = "2026-03-02"  # the node's clock's day, when the sign-ins were recorded
    counts = {
        (c["day"], c["method"], c["outcome"]): c["count"]
        for c in authentications_per_day(node.statistics_view)
    }
    assert counts == {(today, "password", "success"): 1, (today, "password", "failure"): 1}
    assert median_days_to_decision(node.statistics_view) == {"records.request": 3.0}
    first = authentications_per_day(node.statistics_view)
    assert statistics.rebuild(
        node.statistics_view.reset, node.store.recorder.max_notification_id(), 30
    )
    assert authentications_per_day(node.statistics_view) == first  # replay gives the same rows
