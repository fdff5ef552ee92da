"""The citizen timeline's tables: one row per event a citizen may see, tracked with its position.

Rows and the tracking position are written in one transaction, so a projection killed at any
moment resumes with nothing skipped and nothing repeated. Two small link tables remember which
citizen a session or a transaction belongs to, for events that do not name the citizen.
Watchers hear whose timelines grew (projections/changes.py): on PostgreSQL a NOTIFY per citizen
written, on commit; with SQLite the probe asks `latest_position` and `citizens_between`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.secure_delete import reclaim
from ledger.sql_dialect import moment
from ledger.view import RebuildableView
from projections.changes import channel_name


@dataclass(frozen=True)
class TimelineItem:
    citizen_id: str
    position: int  # the event's notification id: the order in which the ledger recorded it
    at: datetime
    kind: str  # one of projections.history.KINDS
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
# A summary longer than this is not even read out of the table (issue 14): rows recorded before
# requests were bounded can hold megabytes (a 3.8 MB user agent in a sign-in). The item is still
# listed, with this summary in place of its own; its receipt proves the event as it is. Every
# summary recorded under the request limits is far shorter (a few KiB).
MAX_SUMMARY_CHARACTERS = 16 * 1024
WITHHELD: dict[str, Any] = {"summary_withheld": f"longer than {MAX_SUMMARY_CHARACTERS} characters"}
# The row's columns, with the summary left out past its limit: the database never sends it.
_COLUMNS = (
    "citizen_id, position, at, kind, type, stream, version, "
    f"CASE WHEN LENGTH(summary) > {MAX_SUMMARY_CHARACTERS} THEN NULL ELSE summary END AS summary"
)


def _item(row: Any) -> TimelineItem:
    at = moment(row["at"])
    assert at is not None
    return TimelineItem(
        citizen_id=row["citizen_id"],
        position=row["position"],
        at=at,
        kind=row["kind"],
        type=row["type"],
        stream=row["stream"],
        version=row["version"],
        summary=dict(WITHHELD) if row["summary"] is None else json.loads(row["summary"]),
    )


def _filters(
    kinds: Sequence[str], since: datetime | None, until: datetime | None
) -> tuple[str, list[Any]]:
    """Extra WHERE clauses (placeholders only) and their parameters."""
    clauses, params = "", list[Any]()
    if kinds:
        clauses += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params += list(kinds)
    if since is not None:
        clauses += " AND at >= ?"
        params.append(since)
    if until is not None:
        clauses += " AND at < ?"
        params.append(until)
    return clauses, params


class TimelineView(RebuildableView):
    tables = ("timeline", "timeline_links")

    @property
    def channel(self) -> str | None:
        """Where the database can tell other connections, watchers hear of new rows on commit."""
        if not self.dialect.notifies:
            return None
        return channel_name(self.dialect.schema or "", "timeline")

    def table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {timeline} (citizen_id {text} NOT NULL, "
            "position {integer} NOT NULL, at {moment} NOT NULL, kind {text} NOT NULL, "
            "type {text} NOT NULL, stream {text} NOT NULL, version {integer} NOT NULL, "
            "summary {text} NOT NULL, PRIMARY KEY (citizen_id, position)){keyed_table}",
            "CREATE TABLE IF NOT EXISTS {timeline_links} ("
            "subject {text} PRIMARY KEY, citizen_id {text} NOT NULL){keyed_table}",
            # The latest position and the rows after one (SQLite's change probe, every 0.1 s)
            # without a scan of the whole table.
            "CREATE INDEX IF NOT EXISTS timeline_position ON {timeline} (position)",
        ]

    def record(
        self,
        items: Sequence[TimelineItem],
        links: Sequence[Link],
        tracking: Tracking,
        scrubbed: Sequence[str] = (),
    ) -> None:
        """Delete every row of the `scrubbed` citizens (erased), then add `items` and `links`,
        and move to `tracking`, in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            if scrubbed:
                c.executemany(
                    self.sql("DELETE FROM {timeline} WHERE citizen_id = ?"),
                    [(citizen,) for citizen in scrubbed],
                )
            if items:
                c.executemany(
                    self.sql("INSERT INTO {timeline} VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                    [
                        (
                            i.citizen_id,
                            i.position,
                            self.dialect.param(i.at),
                            i.kind,
                            i.type,
                            i.stream,
                            i.version,
                            json.dumps(i.summary, sort_keys=True),
                        )
                        for i in items
                    ],
                )
            if links:
                c.executemany(
                    self.sql("INSERT INTO {timeline_links} VALUES (?, ?) ON CONFLICT DO NOTHING"),
                    [(link.subject, link.citizen_id) for link in links],
                )
            if items and self.channel is not None:  # delivered on commit, to every replica
                # One per citizen: a watch wakes only when its own citizen's timeline grew.
                self.dialect.notify(c, self.channel, {i.citizen_id for i in items})
            self._insert_tracking(c, tracking)
        if scrubbed:
            reclaim(self.datastore, "timeline")

    def latest_position(self) -> int:
        """The highest position recorded (0 when none): a watcher's cue that rows arrived."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT max(position) AS latest FROM {timeline}"))
            row = c.fetchone()
        return int(row["latest"] or 0) if row is not None else 0

    def citizens_between(self, after: int, up_to: int, most: int) -> set[str] | None:
        """The citizens with rows after position `after` up to `up_to`; None when those rows
        are more than `most` (then the caller treats it as anyone's change)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    "SELECT citizen_id FROM {timeline} WHERE position > ? AND position <= ? "
                    "ORDER BY position LIMIT ?"
                ),
                (after, up_to, most + 1),
            )
            rows = c.fetchall()
        return None if len(rows) > most else {str(row["citizen_id"]) for row in rows}

    def erased_citizens(self) -> set[str]:
        """The citizens whose erasure the timeline has recorded."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql("SELECT citizen_id FROM {timeline} WHERE type = ?"), (ERASED_TYPE,))
            return {str(row["citizen_id"]) for row in c.fetchall()}

    def citizen_of(self, subject: str) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql("SELECT citizen_id FROM {timeline_links} WHERE subject = ?"), (subject,)
            )
            row = c.fetchone()
        return None if row is None else str(row["citizen_id"])

    def item(self, citizen_id: str, stream: str, version: int) -> TimelineItem | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    f"SELECT {_COLUMNS} FROM {{timeline}} "  # noqa: S608
                    "WHERE citizen_id = ? AND stream = ? AND version = ?"
                ),
                (citizen_id, stream, version),
            )
            row = c.fetchone()
        return None if row is None else _item(row)

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
        clauses, params = _filters(kinds, since, until)
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.sql(
                    f"SELECT {_COLUMNS} FROM {{timeline}} "  # noqa: S608
                    "WHERE citizen_id = ? AND position > ?"
                    f"{clauses} ORDER BY position LIMIT ?"
                ),
                [citizen_id, after_position, *map(self.dialect.param, params), limit],
            )
            return [_item(row) for row in c.fetchall()]
