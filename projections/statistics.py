"""Statistics for the people who run the services: how citizens sign in, how fast cases are
decided. Counts and times only, never who."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC
from typing import Any

from eventsourcing.persistence import Tracking

from projections.batching import BatchingProjection
from projections.reader import ErasedEvent
from projections.statistics_view import AuthCount, CaseTimes, StatisticsView

DECISIONS = ("Approved", "Rejected")


class Statistics(BatchingProjection[StatisticsView]):
    name = "statistics"

    def __init__(self, view: StatisticsView) -> None:
        super().__init__(view)
        self._counts: list[AuthCount] = []
        self._cases: list[CaseTimes] = []

    def write(self, tracking: Tracking) -> None:
        self.view.record(self._counts, self._cases, tracking)
        self._counts, self._cases = [], []

    def collect(self, domain_event: Any, tracking: Tracking) -> None:
        counts, cases = self._counts, self._cases
        if not isinstance(domain_event, ErasedEvent):
            aggregate, _, name = str(type(domain_event).TOPIC).rpartition(".")
            if aggregate == "identity.Citizen" and name in (
                "AuthenticationSucceeded",
                "AuthenticationFailed",
            ):
                day = domain_event.timestamp.astimezone(UTC).date()
                outcome = "success" if name == "AuthenticationSucceeded" else "failure"
                counts.extend(
                    AuthCount(day, method, outcome, 1)
                    for method in domain_event.methods or ["none"]
                )
            elif aggregate == "ledger.Transaction" and name == "Submitted":
                cases.append(
                    CaseTimes(
                        str(domain_event.originator_id), domain_event.service_code, domain_event.at
                    )
                )
            elif aggregate == "ledger.Transaction" and name in DECISIONS:
                cases.append(CaseTimes(str(domain_event.originator_id), decided_at=domain_event.at))


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
