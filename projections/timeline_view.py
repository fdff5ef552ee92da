"""The citizen timeline's tables: one row per event a citizen may see, tracked with its position.

Rows and the tracking position are written in one transaction, so a projection killed at any
moment resumes with nothing skipped and nothing repeated. Two small link tables remember which
citizen a session or a transaction belongs to, for events that do not name the citizen.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Identifier

from ledger.secure_delete import reclaim
from ledger.store import NamedSQLiteTracking, PostgresView
from projections.changes import channel_name


@dataclass(frozen=True)
class TimelineItem:
    citizen_id: str
    position: int  # the event's notification id: the order in which the ledger recorded it
    at: datetime
    kind: str  # sign_in | session | authenticator | identity | transaction | data_access
    type: str  # the stable event name
    stream: str
    version: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class Link:
    """`subject` (a session or transaction id) belongs to `citizen_id`."""

    subject: str
    citizen_id: str


ERASED_TYPE = "identity.Citizen.Erased"


class TimelineView(TrackingRecorder, ABC):
    @abstractmethod
    def record(
        self,
        items: Sequence[TimelineItem],
        links: Sequence[Link],
        tracking: Tracking,
        scrubbed: Sequence[str] = (),
    ) -> None:
        """Delete every row of the `scrubbed` citizens (erased), then add `items` and `links`,
        and move to `tracking`, in one transaction."""

    @abstractmethod
    def erased_citizens(self) -> set[str]:
        """The citizens whose erasure the timeline has recorded."""

    @abstractmethod
    def citizen_of(self, subject: str) -> str | None: ...

    @abstractmethod
    def item(self, citizen_id: str, stream: str, version: int) -> TimelineItem | None: ...

    @abstractmethod
    def reset(self) -> None:
        """Forget every row and the tracked position: the next run replays from zero."""

    @abstractmethod
    def items(
        self,
        citizen_id: str,
        *,
        after_position: int = 0,
        kinds: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[TimelineItem]:
        """The citizen's items in ledger order, after a position (paging, watching)."""


def _item(row: Any) -> TimelineItem:
    return TimelineItem(
        citizen_id=row["citizen_id"],
        position=row["position"],
        at=datetime.fromisoformat(row["at"]) if isinstance(row["at"], str) else row["at"],
        kind=row["kind"],
        type=row["type"],
        stream=row["stream"],
        version=row["version"],
        summary=json.loads(row["summary"]),
    )


def _filters(
    kinds: Sequence[str], since: datetime | None, until: datetime | None, mark: str
) -> tuple[str, list[Any]]:
    """Extra WHERE clauses (placeholders only) and their parameters."""
    clauses, params = "", list[Any]()
    if kinds:
        clauses += f" AND kind IN ({', '.join(mark for _ in kinds)})"
        params += list(kinds)
    if since is not None:
        clauses += f" AND at >= {mark}"
        params.append(since)
    if until is not None:
        clauses += f" AND at < {mark}"
        params.append(until)
    return clauses, params


class SQLiteTimelineView(NamedSQLiteTracking, TimelineView):
    tracking_table = "timeline_tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS timeline (citizen_id TEXT NOT NULL, position INTEGER "
            "NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL, stream TEXT NOT "
            "NULL, version INTEGER NOT NULL, summary TEXT NOT NULL, "
            "PRIMARY KEY (citizen_id, position)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS timeline_links ("
            "subject TEXT PRIMARY KEY, citizen_id TEXT NOT NULL) WITHOUT ROWID",
        ]

    def record(
        self,
        items: Sequence[TimelineItem],
        links: Sequence[Link],
        tracking: Tracking,
        scrubbed: Sequence[str] = (),
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "DELETE FROM timeline WHERE citizen_id = ?", [(citizen,) for citizen in scrubbed]
            )
            c.executemany(
                "INSERT INTO timeline VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.citizen_id,
                        i.position,
                        i.at.isoformat(),
                        i.kind,
                        i.type,
                        i.stream,
                        i.version,
                        json.dumps(i.summary, sort_keys=True),
                    )
                    for i in items
                ],
            )
            c.executemany(
                "INSERT OR IGNORE INTO timeline_links VALUES (?, ?)",
                [(link.subject, link.citizen_id) for link in links],
            )
            self._insert_tracking(c, tracking)
        if scrubbed:
            reclaim(self.datastore, "timeline")

    def erased_citizens(self) -> set[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT citizen_id FROM timeline WHERE type = ?", (ERASED_TYPE,))
            return {str(row["citizen_id"]) for row in c.fetchall()}

    def citizen_of(self, subject: str) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT citizen_id FROM timeline_links WHERE subject = ?", (subject,))
            row = c.fetchone()
        return None if row is None else str(row["citizen_id"])

    def item(self, citizen_id: str, stream: str, version: int) -> TimelineItem | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT * FROM timeline WHERE citizen_id = ? AND stream = ? AND version = ?",
                (citizen_id, stream, version),
            )
            row = c.fetchone()
        return None if row is None else _item(row)

    def reset(self) -> None:
        self.reset_tables("timeline", "timeline_links")

    def items(
        self,
        citizen_id: str,
        *,
        after_position: int = 0,
        kinds: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[TimelineItem]:
        clauses, params = _filters(kinds, since, until, "?")
        params = [p.astimezone(UTC).isoformat() if isinstance(p, datetime) else p for p in params]
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT * FROM timeline WHERE citizen_id = ? AND position > ?"  # noqa: S608
                f"{clauses} ORDER BY position LIMIT ?",
                [citizen_id, after_position, *params, limit],
            )
            return [_item(row) for row in c.fetchall()]


class PostgresTimelineView(PostgresView, TimelineView):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(
            datastore,
            "CREATE TABLE IF NOT EXISTS {schema}.timeline (citizen_id text NOT NULL, "
            "position bigint NOT NULL, at timestamptz NOT NULL, kind text NOT NULL, "
            "type text NOT NULL, stream text NOT NULL, version bigint NOT NULL, "
            "summary text NOT NULL, PRIMARY KEY (citizen_id, position))",
            "CREATE TABLE IF NOT EXISTS {schema}.timeline_links ("
            "subject text PRIMARY KEY, citizen_id text NOT NULL)",
            **kwargs,
        )
        self.channel = channel_name(datastore.schema, "timeline")

    def record(
        self,
        items: Sequence[TimelineItem],
        links: Sequence[Link],
        tracking: Tracking,
        scrubbed: Sequence[str] = (),
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            for citizen in scrubbed:
                c.execute(
                    self.sql("DELETE FROM {schema}.timeline WHERE citizen_id = %s"), (citizen,)
                )
            for i in items:
                c.execute(
                    self.sql(
                        "INSERT INTO {schema}.timeline VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    ),
                    (
                        i.citizen_id,
                        i.position,
                        i.at,
                        i.kind,
                        i.type,
                        i.stream,
                        i.version,
                        json.dumps(i.summary, sort_keys=True),
                    ),
                )
            for link in links:
                c.execute(
                    self.sql(
                        "INSERT INTO {schema}.timeline_links VALUES (%s, %s) ON CONFLICT DO NOTHING"
                    ),
                    (link.subject, link.citizen_id),
                )
            if items:  # delivered on commit, to every replica's watchers
                c.execute(SQL("NOTIFY {0}").format(Identifier(self.channel)))
            self._insert_tracking(c, tracking)
        if scrubbed:
            reclaim(self.datastore, "timeline")

    def erased_citizens(self) -> set[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql("SELECT citizen_id FROM {schema}.timeline WHERE type = %s"),
                (ERASED_TYPE,),
            )
            return {str(row["citizen_id"]) for row in c.fetchall()}

    def citizen_of(self, subject: str) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql("SELECT citizen_id FROM {schema}.timeline_links WHERE subject = %s"),
                (subject,),
            )
            row = c.fetchone()
        return None if row is None else str(row["citizen_id"])

    def item(self, citizen_id: str, stream: str, version: int) -> TimelineItem | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT * FROM {schema}.timeline "
                    "WHERE citizen_id = %s AND stream = %s AND version = %s"
                ),
                (citizen_id, stream, version),
            )
            row = c.fetchone()
        return None if row is None else _item(row)

    def reset(self) -> None:
        self.reset_tables("timeline", "timeline_links")

    def items(
        self,
        citizen_id: str,
        *,
        after_position: int = 0,
        kinds: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[TimelineItem]:
        clauses, params = _filters(kinds, since, until, "%s")
        query = (
            "SELECT * FROM {schema}.timeline WHERE citizen_id = %s AND position > %s"  # noqa: S608
            f"{clauses} ORDER BY position LIMIT %s"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                SQL(query).format(schema=self.schema),
                [citizen_id, after_position, *params, limit],
            )
            return [_item(row) for row in c.fetchall()]
