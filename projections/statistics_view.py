"""Statistics tables: sign-ins per day by method and outcome; when each case was decided."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from eventsourcing.persistence import Tracking

from ledger.sql_dialect import day, moment
from ledger.view import RebuildableView


@dataclass(frozen=True)
class AuthCount:
    day: date
    method: str
    outcome: str  # success | failure
    count: int


@dataclass(frozen=True)
class CaseTimes:
    transaction_id: str
    service_code: str | None = None
    submitted_at: datetime | None = None
    decided_at: datetime | None = None


class StatisticsView(RebuildableView):
    tables = ("stats_auth_daily", "stats_cases")

    def table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {stats_auth_daily} (day {day} NOT NULL, "
            "method {text} NOT NULL, outcome {text} NOT NULL, count {integer} NOT NULL, "
            "PRIMARY KEY (day, method, outcome)){keyed_table}",
            "CREATE TABLE IF NOT EXISTS {stats_cases} (transaction_id {text} PRIMARY KEY, "
            "service_code {text}, submitted_at {moment}, decided_at {moment})",
        ]

    def record(
        self, counts: Sequence[AuthCount], cases: Sequence[CaseTimes], tracking: Tracking
    ) -> None:
        """Add `counts` to the daily totals; upsert what is known of each case's times."""
        param = self.dialect.param
        with self.datastore.transaction(commit=True) as c:
            if counts:
                c.executemany(
                    self.sql(
                        "INSERT INTO {stats_auth_daily} AS t VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (day, method, outcome) "
                        "DO UPDATE SET count = t.count + excluded.count"
                    ),
                    [(param(a.day), a.method, a.outcome, a.count) for a in counts],
                )
            if cases:
                c.executemany(
                    self.sql(
                        "INSERT INTO {stats_cases} AS t VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (transaction_id) DO UPDATE SET "
                        "service_code = COALESCE(excluded.service_code, t.service_code), "
                        "submitted_at = COALESCE(excluded.submitted_at, t.submitted_at), "
                        "decided_at = COALESCE(excluded.decided_at, t.decided_at)"
                    ),
                    [
                        (
                            k.transaction_id,
                            k.service_code,
                            param(k.submitted_at),
                            param(k.decided_at),
                        )
                        for k in cases
                    ],
                )
            self._insert_tracking(c, tracking)

    def auth_counts(self) -> list[AuthCount]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT * FROM {stats_auth_daily} ORDER BY day, method, outcome"))
            return [
                AuthCount(day(r["day"]), r["method"], r["outcome"], r["count"])
                for r in c.fetchall()
            ]

    def decided_cases(self) -> list[CaseTimes]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {stats_cases} WHERE decided_at IS NOT NULL "
                    "ORDER BY transaction_id"
                )
            )
            return [
                CaseTimes(
                    r["transaction_id"],
                    r["service_code"],
                    moment(r["submitted_at"]),
                    moment(r["decided_at"]),
                )
                for r in c.fetchall()
            ]
