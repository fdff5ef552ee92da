"""The read models as an auditor reads them: every row of the transaction queue or the citizen
timeline, from one consistent moment, with the prefix of the log those rows reflect.

`civitas-verify live --replay` rebuilds both read models from the entries' payloads on its own
and compares, so it must know exactly which entries the rows reflect. Each stream is read inside
one read-only snapshot (a SQLite WAL read transaction, PostgreSQL's REPEATABLE READ): a
projection writes its rows and its tracked position in one transaction, so in the snapshot the
two agree, and the sequencer's `merkle_leaves` table, read in the same snapshot, turns that
position into a tree size. Rows come from a database cursor, never gathered in memory.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from ledger.entry import format_timestamp
from ledger.errors import InvalidInput, Unavailable
from ledger.store import LOG_NAME
from ledger.view import View

# A projection may run ahead of the sequencer for a moment; its position has no leaf until the
# sequencer catches up (it commits at least every CHECKPOINT_INTERVAL, well under a second).
SEQUENCER_WAIT_SECONDS = 10.0
RETRY_SECONDS = 0.05
POSTGRES_FETCH_ROWS = 500


@dataclass(frozen=True)
class ProjectionPosition:
    name: str
    notification_id: int  # 0: nothing projected yet
    tree_size: int  # the rows reflect exactly the leaves [0, tree_size)


@dataclass(frozen=True)
class AuditedQueueRow:
    transaction_id: str
    reference: str
    service_code: str
    agency: str
    citizen_id: str
    status: str
    submitted_at: str  # RFC 3339 UTC with six fraction digits and "Z", like an entry's `at`
    decided_at: str  # the same, or "" before a decision


@dataclass(frozen=True)
class AuditedTimelineRow:
    citizen_id: str
    leaf_index: int | None  # None: the row's position is no leaf of the log
    notification_id: int
    at: str
    kind: str
    type: str
    stream: str
    version: int
    summary_json: str  # as stored: the auditor, not this service, decides whether it is valid


@dataclass(frozen=True)
class AuditedStatisticsRow:
    kind: str  # "auth": a day's sign-ins by method and outcome; "case": a case's times
    day: str = ""
    method: str = ""
    outcome: str = ""
    count: int = 0
    transaction_id: str = ""
    service_code: str = ""
    submitted_at: str = ""
    decided_at: str = ""


AuditedRow = ProjectionPosition | AuditedQueueRow | AuditedTimelineRow | AuditedStatisticsRow
RowReader = Callable[
    [Mapping[str, Any]], AuditedQueueRow | AuditedTimelineRow | AuditedStatisticsRow
]


def served_time(value: datetime | str | None) -> str:
    """A stored time in the entry's `at` form; text that is no time is served as it stands, so a
    damaged row reaches the auditor's comparison instead of failing the whole stream."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    try:
        return format_timestamp(moment)
    except ValueError:  # a naive time: not one the projections write
        return moment.isoformat()


def _queue_row(row: Mapping[str, Any]) -> AuditedQueueRow:
    return AuditedQueueRow(
        transaction_id=row["transaction_id"],
        reference=row["reference"],
        service_code=row["service_code"],
        agency=row["agency"],
        citizen_id=row["citizen_id"],
        status=row["status"],
        submitted_at=served_time(row["submitted_at"]),
        decided_at=served_time(row["decided_at"]),
    )


def _timeline_row(row: Mapping[str, Any]) -> AuditedTimelineRow:
    return AuditedTimelineRow(
        citizen_id=row["citizen_id"],
        leaf_index=row["leaf_index"],
        notification_id=row["position"],
        at=served_time(row["at"]),
        kind=row["kind"],
        type=row["type"],
        stream=row["stream"],
        version=row["version"],
        summary_json=row["summary"],
    )


def _statistics_row(row: Mapping[str, Any]) -> AuditedStatisticsRow:
    if row["row_kind"] == "auth":
        day = row["day"]
        return AuditedStatisticsRow(
            "auth",
            day=day if isinstance(day, str) else day.isoformat(),
            method=row["method"],
            outcome=row["outcome"],
            count=row["count"],
        )
    return AuditedStatisticsRow(
        "case",
        transaction_id=row["transaction_id"],
        service_code=row["service_code"] or "",
        submitted_at=served_time(row["submitted_at"]),
        decided_at=served_time(row["decided_at"]),
    )


@dataclass(frozen=True)
class AuditedRows:
    """What an auditor reads of one projection: every row in key order, and each row's form."""

    query: str  # a dialect template (ledger/sql_dialect.py)
    row: RowReader


QUEUE_ROWS = AuditedRows("SELECT * FROM {transaction_queue} ORDER BY transaction_id", _queue_row)
TIMELINE_ROWS = AuditedRows(
    "SELECT t.*, l.leaf_index FROM {timeline} t "
    "LEFT JOIN {merkle_leaves} l ON l.notification_id = t.position "
    "ORDER BY t.citizen_id, t.position",
    _timeline_row,
)
# Both statistics tables in one stream (one snapshot): each branch fills the other's columns
# with typed NULLs, as PostgreSQL wants one type per column of a UNION.
STATISTICS_ROWS = AuditedRows(
    "SELECT 'auth' AS row_kind, day, method, outcome, count, "
    "CAST(NULL AS {text}) AS transaction_id, CAST(NULL AS {text}) AS service_code, "
    "CAST(NULL AS {moment}) AS submitted_at, CAST(NULL AS {moment}) AS decided_at "
    "FROM {stats_auth_daily} UNION ALL "
    "SELECT 'case', CAST(NULL AS {day}), CAST(NULL AS {text}), CAST(NULL AS {text}), "
    "CAST(NULL AS {integer}), transaction_id, service_code, submitted_at, decided_at "
    "FROM {stats_cases} ORDER BY row_kind, day, method, outcome, transaction_id",
    _statistics_row,
)
POSITION_QUERY = (
    "SELECT t.notification_id, l.leaf_index FROM {tracking} t "
    "LEFT JOIN {merkle_leaves} l ON l.notification_id = t.notification_id "
    "WHERE t.application_name = ?"
)


class ProjectionTables(ABC):
    """One projection's tables: a snapshot, its position, and its rows.

    The SQL is the view's dialect's; how a snapshot is held and rows streamed differs."""

    def __init__(self, view: View, rows: AuditedRows) -> None:
        self.datastore = view.datastore
        position = POSITION_QUERY.replace("{tracking}", f"{{{view.tracking_table_name}}}")
        self.position_query = view.sql(position)
        self.rows_query = view.sql(rows.query)
        self.row = rows.row

    @abstractmethod
    def snapshot(self) -> Any:
        """A context manager: a read-only transaction that sees one moment of the database."""

    def position(self, snapshot: Any) -> tuple[int | None, int | None]:
        """(the tracked notification id, the leaf index it became) in the snapshot."""
        found = snapshot.execute(self.position_query, (LOG_NAME,)).fetchone()
        return (None, None) if found is None else (found["notification_id"], found["leaf_index"])

    @abstractmethod
    def rows(self, snapshot: Any) -> Iterator[Mapping[str, Any]]: ...


class SQLiteTables(ProjectionTables):
    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        # A deferred BEGIN: WAL fixes the snapshot at the first read and keeps it to the end.
        assert isinstance(self.datastore, SQLiteDatastore)
        with self.datastore.transaction(commit=False) as cursor:
            yield cursor.sqlite_cursor

    def rows(self, snapshot: Any) -> Iterator[Mapping[str, Any]]:
        yield from snapshot.execute(self.rows_query)  # sqlite3 steps as rows are taken


class PostgresTables(ProjectionTables):
    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        assert isinstance(self.datastore, PostgresDatastore)
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(force_rollback=True),
        ):
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield connection

    def rows(self, snapshot: Any) -> Iterator[Mapping[str, Any]]:
        # A server-side cursor: PostgreSQL hands the rows over in batches as they are taken.
        with snapshot.cursor(name="audited_projection") as cursor:
            cursor.itersize = POSTGRES_FETCH_ROWS
            cursor.execute(self.rows_query)
            yield from cursor


def _tables(view: View, rows: AuditedRows) -> ProjectionTables:
    if isinstance(view.datastore, PostgresDatastore):
        return PostgresTables(view, rows)
    return SQLiteTables(view, rows)


class AuditedProjections:
    """The audited read models (projections/registry.py), whole, for auditors (AuditService)."""

    def __init__(
        self,
        audited: Mapping[str, tuple[View, AuditedRows]],
        *,
        sequencer_wait: float = SEQUENCER_WAIT_SECONDS,
    ) -> None:
        self._tables = {name: _tables(view, rows) for name, (view, rows) in audited.items()}
        self._sequencer_wait = sequencer_wait

    def stream(self, name: str) -> Iterator[AuditedRow]:
        """The projection's position, then every row in key order, all from one snapshot."""
        tables = self._tables.get(name)
        if tables is None:
            raise InvalidInput.of("name", f"one of {', '.join(self._tables)}")
        deadline = time.monotonic() + self._sequencer_wait
        while True:
            with tables.snapshot() as snapshot:
                notification_id, leaf_index = tables.position(snapshot)
                if notification_id is None or leaf_index is not None:
                    size = 0 if leaf_index is None else leaf_index + 1
                    yield ProjectionPosition(name, notification_id or 0, size)
                    for row in tables.rows(snapshot):
                        yield tables.row(row)
                    return
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"the {name} projection is ahead of the log's sequencer; try again shortly",
                    reason="NOT_YET_SEQUENCED",
                    retry_after=RETRY_SECONDS,
                )
            time.sleep(RETRY_SECONDS)
