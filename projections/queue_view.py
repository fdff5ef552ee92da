"""The transaction status table: agencies' queues by status and age, tracked with its position."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from ledger.store import NamedSQLiteTracking, PostgresView

COLUMNS = (
    "transaction_id",
    "reference",
    "service_code",
    "agency",
    "citizen_id",
    "status",
    "submitted_at",
    "decided_at",
)


@dataclass(frozen=True)
class QueueRow:
    transaction_id: str
    reference: str
    service_code: str
    agency: str
    citizen_id: str
    status: str
    submitted_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class StatusChange:
    transaction_id: str
    status: str
    decided_at: datetime | None


class QueueView(TrackingRecorder, ABC):
    @abstractmethod
    def record(
        self, new: Sequence[QueueRow], changes: Sequence[StatusChange], tracking: Tracking
    ) -> None: ...

    @abstractmethod
    def queue(self, agency: str, statuses: Sequence[str], after: str, limit: int) -> list[QueueRow]:
        """The agency's cases, oldest first, after the previous page's last transaction id."""

    @abstractmethod
    def reset(self) -> None: ...


def _row(row: Any) -> QueueRow:
    def moment(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    submitted = moment(row["submitted_at"])
    assert submitted is not None
    return QueueRow(
        row["transaction_id"],
        row["reference"],
        row["service_code"],
        row["agency"],
        row["citizen_id"],
        row["status"],
        submitted,
        moment(row["decided_at"]),
    )


class SQLiteQueueView(NamedSQLiteTracking, QueueView):
    tracking_table = "queue_tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS transaction_queue (transaction_id TEXT PRIMARY KEY, "
            "reference TEXT NOT NULL, service_code TEXT NOT NULL, agency TEXT NOT NULL, "
            "citizen_id TEXT NOT NULL, status TEXT NOT NULL, submitted_at TEXT NOT NULL, "
            "decided_at TEXT)",
            "CREATE INDEX IF NOT EXISTS transaction_queue_agency "
            "ON transaction_queue (agency, submitted_at, transaction_id)",
        ]

    def record(
        self, new: Sequence[QueueRow], changes: Sequence[StatusChange], tracking: Tracking
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT INTO transaction_queue VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.transaction_id,
                        r.reference,
                        r.service_code,
                        r.agency,
                        r.citizen_id,
                        r.status,
                        _text(r.submitted_at),
                        None,
                    )
                    for r in new
                ],
            )
            c.executemany(
                "UPDATE transaction_queue SET status = ?, decided_at = COALESCE(?, decided_at) "
                "WHERE transaction_id = ?",
                [(s.status, _text(s.decided_at), s.transaction_id) for s in changes],
            )
            self._insert_tracking(c, tracking)

    def queue(self, agency: str, statuses: Sequence[str], after: str, limit: int) -> list[QueueRow]:
        status_clause = f" AND status IN ({', '.join('?' for _ in statuses)})" if statuses else ""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT * FROM transaction_queue WHERE agency = ?"  # noqa: S608 - placeholders
                f"{status_clause} AND (submitted_at, transaction_id) > "
                "(COALESCE((SELECT submitted_at FROM transaction_queue "
                "WHERE transaction_id = ?), ''), ?) "
                "ORDER BY submitted_at, transaction_id LIMIT ?",
                [agency, *statuses, after, after, limit],
            )
            return [_row(row) for row in c.fetchall()]

    def reset(self) -> None:
        self.reset_tables("transaction_queue")


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


class PostgresQueueView(PostgresView, QueueView):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(
            datastore,
            "CREATE TABLE IF NOT EXISTS {schema}.transaction_queue (transaction_id text "
            "PRIMARY KEY, reference text NOT NULL, service_code text NOT NULL, agency text "
            "NOT NULL, citizen_id text NOT NULL, status text NOT NULL, submitted_at "
            "timestamptz NOT NULL, decided_at timestamptz)",
            "CREATE INDEX IF NOT EXISTS transaction_queue_agency "
            "ON {schema}.transaction_queue (agency, submitted_at, transaction_id)",
            **kwargs,
        )

    def record(
        self, new: Sequence[QueueRow], changes: Sequence[StatusChange], tracking: Tracking
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            for r in new:
                c.execute(
                    self.sql(
                        "INSERT INTO {schema}.transaction_queue "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, NULL)"
                    ),
                    (
                        r.transaction_id,
                        r.reference,
                        r.service_code,
                        r.agency,
                        r.citizen_id,
                        r.status,
                        r.submitted_at,
                    ),
                )
            for s in changes:
                c.execute(
                    self.sql(
                        "UPDATE {schema}.transaction_queue SET status = %s, "
                        "decided_at = COALESCE(%s, decided_at) WHERE transaction_id = %s"
                    ),
                    (s.status, s.decided_at, s.transaction_id),
                )
            self._insert_tracking(c, tracking)

    def queue(self, agency: str, statuses: Sequence[str], after: str, limit: int) -> list[QueueRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {schema}.transaction_queue WHERE agency = %s "
                    "AND (cardinality(%s::text[]) = 0 OR status = ANY(%s::text[])) "
                    "AND (submitted_at, transaction_id) > (COALESCE((SELECT submitted_at FROM "
                    "{schema}.transaction_queue WHERE transaction_id = %s), '-infinity'), %s) "
                    "ORDER BY submitted_at, transaction_id LIMIT %s"
                ),
                (agency, list(statuses), list(statuses), after, after, limit),
            )
            return [_row(row) for row in c.fetchall()]

    def reset(self) -> None:
        self.reset_tables("transaction_queue")
