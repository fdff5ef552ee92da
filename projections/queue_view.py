"""The transaction status table: agencies' queues by status and age, tracked with its position."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.sql_dialect import moment
from ledger.view import RebuildableView


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


def _row(row: Any) -> QueueRow:
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


class QueueView(RebuildableView):
    tables = ("transaction_queue",)

    def table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {transaction_queue} (transaction_id {text} PRIMARY KEY, "
            "reference {text} NOT NULL, service_code {text} NOT NULL, agency {text} NOT NULL, "
            "citizen_id {text} NOT NULL, status {text} NOT NULL, "
            "submitted_at {moment} NOT NULL, decided_at {moment})",
            "CREATE INDEX IF NOT EXISTS transaction_queue_agency "
            "ON {transaction_queue} (agency, submitted_at, transaction_id)",
        ]

    def record(
        self, new: Sequence[QueueRow], changes: Sequence[StatusChange], tracking: Tracking
    ) -> None:
        param = self.dialect.param
        with self.datastore.transaction(commit=True) as c:
            if new:
                c.executemany(
                    self.sql("INSERT INTO {transaction_queue} VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"),
                    [
                        (
                            r.transaction_id,
                            r.reference,
                            r.service_code,
                            r.agency,
                            r.citizen_id,
                            r.status,
                            param(r.submitted_at),
                        )
                        for r in new
                    ],
                )
            if changes:
                c.executemany(
                    self.sql(
                        "UPDATE {transaction_queue} SET status = ?, "
                        "decided_at = COALESCE(?, decided_at) WHERE transaction_id = ?"
                    ),
                    [(s.status, param(s.decided_at), s.transaction_id) for s in changes],
                )
            self._insert_tracking(c, tracking)

    def queue(self, agency: str, statuses: Sequence[str], after: str, limit: int) -> list[QueueRow]:
        """The agency's cases, oldest first, after the previous page's last transaction id."""
        status_clause = f" AND status IN ({self.dialect.marks(len(statuses))})" if statuses else ""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {transaction_queue} WHERE agency = ?"  # noqa: S608
                    f"{status_clause} AND (submitted_at, transaction_id) > "
                    "(COALESCE((SELECT submitted_at FROM {transaction_queue} "
                    "WHERE transaction_id = ?), {earliest}), ?) "
                    "ORDER BY submitted_at, transaction_id LIMIT ?"
                ),
                [agency, *statuses, after, after, limit],
            )
            return [_row(row) for row in c.fetchall()]
