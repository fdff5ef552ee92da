"""Statistics for the people who run the services: how citizens sign in, how fast cases are
decided. Counts and times only, never who."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

from ledger.transactions import LIFECYCLE, lifecycle_topic
from projections.batching import BatchingProjection, Reducer
from projections.statistics_view import AuthCount, CaseTimes, StatisticsView


class Statistics(BatchingProjection[StatisticsView]):
    name = "statistics"

    def __init__(self, view: StatisticsView) -> None:
        super().__init__(view)
        self._counts: list[AuthCount] = []
        self._cases: list[CaseTimes] = []

    def write(self, tracking: Tracking) -> None:
        self.view.record(self._counts, self._cases, tracking)
        self._counts, self._cases = [], []

    def _signed_in(self, event: Any, tracking: Tracking) -> None:
        self._count(event, "success")

    def _sign_in_failed(self, event: Any, tracking: Tracking) -> None:
        self._count(event, "failure")

    def _count(self, event: Any, outcome: str) -> None:
        day = event.timestamp.astimezone(UTC).date()
        self._counts.extend(
            AuthCount(day, method, outcome, 1) for method in event.methods or ["none"]
        )

    def _submitted(self, event: Any, tracking: Tracking) -> None:
        self._cases.append(CaseTimes(str(event.originator_id), event.service_code, event.at))

    def _decided(self, event: Any, tracking: Tracking) -> None:
        self._cases.append(CaseTimes(str(event.originator_id), decided_at=event.at))

    reducers: ClassVar[Mapping[str, Reducer]] = {
        "identity.Citizen.AuthenticationSucceeded": _signed_in,
        "identity.Citizen.AuthenticationFailed": _sign_in_failed,
        lifecycle_topic("Submitted"): _submitted,
        **dict.fromkeys(
            (lifecycle_topic(name) for name, step in LIFECYCLE.items() if step.decides), _decided
        ),
    }


def authentications_per_day(view: StatisticsView) -> list[dict[str, Any]]:
    return [
        {"day": c.day.isoformat(), "method": c.method, "outcome": c.outcome, "count": c.count}
        for c in view.auth_counts()
    ]


def median_days_to_decision(view: StatisticsView) -> dict[str, float]:
    """Per service code, the median time from submission to approval or rejection, in days."""
    durations: dict[str, list[float]] = defaultdict(list)
    for case in view.decided_cases():
        if case.service_code and case.submitted_at and case.decided_at:
            durations[case.service_code].append(
                (case.decided_at - case.submitted_at).total_seconds() / 86400
            )
    return {code: round(statistics.median(days), 3) for code, days in sorted(durations.items())}
