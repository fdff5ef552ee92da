"""Statistics tables: sign-ins per day by method and outcome; when each case was decided."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from ledger.store import NamedSQLiteTracking, PostgresView


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


class StatisticsView(TrackingRecorder, ABC):
    @abstractmethod
    def record(
        self, counts: Sequence[AuthCount], cases: Sequence[CaseTimes], tracking: Tracking
    ) -> None:
        """Add `counts` to the daily totals; upsert what is known of each case's times."""

    @abstractmethod
    def auth_counts(self) -> list[AuthCount]: ...

    @abstractmethod
    def decided_cases(self) -> list[CaseTimes]: ...

    @abstractmethod
    def reset(self) -> None: ...


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class SQLiteStatisticsView(NamedSQLiteTracking, StatisticsView):
    tracking_table = "statistics_tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS stats_auth_daily (day TEXT NOT NULL, method TEXT NOT NULL, "
            "outcome TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, method, outcome)) "
            "WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS stats_cases (transaction_id TEXT PRIMARY KEY, "
            "service_code TEXT, submitted_at TEXT, decided_at TEXT)",
        ]

    def record(
        self, counts: Sequence[AuthCount], cases: Sequence[CaseTimes], tracking: Tracking
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT INTO stats_auth_daily VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, method, outcome) DO UPDATE SET count = count + excluded.count",
                [(a.day.isoformat(), a.method, a.outcome, a.count) for a in counts],
            )
            c.executemany(
                "INSERT INTO stats_cases VALUES (?, ?, ?, ?) "
                "ON CONFLICT (transaction_id) DO UPDATE SET "
                "service_code = COALESCE(excluded.service_code, service_code), "
                "submitted_at = COALESCE(excluded.submitted_at, submitted_at), "
                "decided_at = COALESCE(excluded.decided_at, decided_at)",
                [
                    (k.transaction_id, k.service_code, _text(k.submitted_at), _text(k.decided_at))
                    for k in cases
                ],
            )
            self._insert_tracking(c, tracking)

    def auth_counts(self) -> list[AuthCount]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT * FROM stats_auth_daily ORDER BY day, method, outcome")
            return [
                AuthCount(_day(r["day"]), r["method"], r["outcome"], r["count"])
                for r in c.fetchall()
            ]

    def decided_cases(self) -> list[CaseTimes]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT * FROM stats_cases WHERE decided_at IS NOT NULL ORDER BY transaction_id"
            )
            return [
                CaseTimes(
                    r["transaction_id"],
                    r["service_code"],
                    _moment(r["submitted_at"]),
                    _moment(r["decided_at"]),
                )
                for r in c.fetchall()
            ]

    def reset(self) -> None:
        self.reset_tables("stats_auth_daily", "stats_cases")


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


class PostgresStatisticsView(PostgresView, StatisticsView):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(
            datastore,
            "CREATE TABLE IF NOT EXISTS {schema}.stats_auth_daily (day date NOT NULL, "
            "method text NOT NULL, outcome text NOT NULL, count bigint NOT NULL, "
            "PRIMARY KEY (day, method, outcome))",
            "CREATE TABLE IF NOT EXISTS {schema}.stats_cases (transaction_id text PRIMARY KEY, "
            "service_code text, submitted_at timestamptz, decided_at timestamptz)",
            **kwargs,
        )

    def record(
        self, counts: Sequence[AuthCount], cases: Sequence[CaseTimes], tracking: Tracking
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            for a in counts:
                c.execute(
                    self.sql(
                        "INSERT INTO {schema}.stats_auth_daily AS t VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (day, method, outcome) "
                        "DO UPDATE SET count = t.count + excluded.count"
                    ),
                    (a.day, a.method, a.outcome, a.count),
                )
            for k in cases:
                c.execute(
                    self.sql(
                        "INSERT INTO {schema}.stats_cases AS t VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (transaction_id) DO UPDATE SET "
                        "service_code = COALESCE(excluded.service_code, t.service_code), "
                        "submitted_at = COALESCE(excluded.submitted_at, t.submitted_at), "
                        "decided_at = COALESCE(excluded.decided_at, t.decided_at)"
                    ),
                    (k.transaction_id, k.service_code, k.submitted_at, k.decided_at),
                )
            self._insert_tracking(c, tracking)

    def auth_counts(self) -> list[AuthCount]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql("SELECT * FROM {schema}.stats_auth_daily ORDER BY day, method, outcome")
            )
            return [
                AuthCount(_day(r["day"]), r["method"], r["outcome"], r["count"])
                for r in c.fetchall()
            ]

    def decided_cases(self) -> list[CaseTimes]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {schema}.stats_cases WHERE decided_at IS NOT NULL "
                    "ORDER BY transaction_id"
                )
            )
            return [
                CaseTimes(
                    r["transaction_id"], r["service_code"], r["submitted_at"], r["decided_at"]
                )
                for r in c.fetchall()
            ]

    def reset(self) -> None:
        self.reset_tables("stats_auth_daily", "stats_cases")
