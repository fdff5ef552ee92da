"""How the SQL of a read model differs between SQLite and PostgreSQL, in one small object.

A view writes each statement once, in SQLite's `?` style, naming its tables and column types
in braces: `INSERT INTO {timeline} VALUES (?, ?)`, `at {moment} NOT NULL`. The dialect fills
in the table's name (schema-qualified and quoted on PostgreSQL), the column type (TEXT or
timestamptz…) and the placeholder. Values cross through `param`: SQLite keeps times, days and
UUIDs as text; PostgreSQL takes them as they are.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

# The log's events table and the column that numbers its notifications, as eventsourcing
# makes them: PostgreSQL's table is named after the application (ledger.store.LOG_NAME),
# SQLite's numbers are the table's rowid.
SQLITE_EVENTS = ("stored_events", "rowid")
POSTGRES_EVENTS = ("ledger_events", "notification_id")
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (and with it the transaction).
MAX_NOTIFY_PAYLOAD_BYTES = 7999


def quote(identifier: str) -> str:
    """An SQL identifier, quoted as both databases read it."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class SQLDialect:
    name: str
    mark: str  # the driver's placeholder
    types: dict[str, str]  # {integer}, {small}, {text}, {bytes}, {moment}, {day}
    # After a table whose rows are all in its primary key: SQLite then stores no rowid.
    keyed_table: str
    # Lower than any stored moment: the start of a keyset page on a moment column.
    earliest: str
    events: tuple[str, str]  # the log's events table, its notification id column
    notifies: bool  # LISTEN/NOTIFY reaches other connections (and replicas) on commit
    # Times, days and UUIDs stored as text: RFC 3339 UTC (whose order is the instants'),
    # ISO dates, eventsourcing's hex UUIDs.
    as_text: bool
    # Takes a column of values as one array parameter, so many rows go in or out in one
    # statement: on PostgreSQL about twice as fast as single-row statements, where SQLite,
    # in-process, is fastest one row at a time (measured for issue 12).
    arrays: bool
    schema: str | None = None
    # Statements made so far, by template: a proof's lookups format the same few many times.
    _made: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def in_schema(self, schema: str) -> SQLDialect:
        return replace(self, schema=schema)

    def table(self, name: str) -> str:
        return name if self.schema is None else f"{quote(self.schema)}.{quote(name)}"

    def sql(self, template: str) -> str:
        """`template` with its `{table}`, `{type}` and `?` filled in for this database.

        Only names fixed in the code reach the braces; values always travel as parameters."""
        made = self._made.get(template)
        if made is None:
            made = template.format_map(_Names(self))
            if self.mark != "?":
                made = made.replace("%", "%%").replace("?", self.mark)
            self._made[template] = made
        return made

    def marks(self, count: int) -> str:
        """`?, ?, …`: placeholders for `count` values (before `sql`)."""
        return ", ".join("?" * count)

    def insert_rows(
        self, cursor: Any, table: str, types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """INSERT `rows` (already `param`ed) into `table`, whose columns are of `types`."""
        if not rows:
            return
        if self.arrays:
            arrays = ", ".join(f"?::{{{kind}}}[]" for kind in types)
            statement = f"INSERT INTO {{{table}}} SELECT * FROM unnest({arrays})"  # noqa: S608
            cursor.execute(
                self.sql(statement), [list(column) for column in zip(*rows, strict=True)]
            )
        else:
            statement = f"INSERT INTO {{{table}}} VALUES ({self.marks(len(types))})"  # noqa: S608
            cursor.executemany(self.sql(statement), rows)

    def select_keys(
        self,
        cursor: Any,
        columns: str,
        table: str,
        key: Mapping[str, str],
        values: Sequence[Sequence[Any]],
    ) -> list[Any]:
        """The rows of `table` whose `key` ({column: type}) is one of `values`, in no order."""
        names = ", ".join(key)
        if not values:
            return []
        if self.arrays:
            arrays = ", ".join(f"?::{{{kind}}}[]" for kind in key.values())
            cursor.execute(
                self.sql(
                    f"SELECT {columns} FROM {{{table}}} "  # noqa: S608 - fixed names
                    f"JOIN unnest({arrays}) AS k({names}) USING ({names})"
                ),
                [list(column) for column in zip(*values, strict=True)],
            )
            return list(cursor.fetchall())
        where = " AND ".join(f"{column} = ?" for column in key)
        statement = self.sql(f"SELECT {columns} FROM {{{table}}} WHERE {where}")  # noqa: S608
        found = []
        for value in values:  # a row-value IN (VALUES ...) made SQLite scan the whole table
            cursor.execute(statement, value)
            found.extend(cursor.fetchall())
        return found

    def notify(self, cursor: Any, channel: str, payloads: Collection[str]) -> None:
        """Signal `channel` once per payload when the transaction commits (if `notifies`); a
        payload too long to send goes as an empty one, which a listener reads as "anything"."""
        fitting = {p if len(p.encode()) <= MAX_NOTIFY_PAYLOAD_BYTES else "" for p in payloads}
        cursor.execute(
            self.sql("SELECT pg_notify(?, payload) FROM unnest(?::text[]) AS payload"),
            (channel, sorted(fitting)),
        )

    def param(self, value: Any) -> Any:
        """A Python value as this database stores it."""
        if not self.as_text:
            return value
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, UUID):
            return value.hex
        return value


class _Names(dict[str, str]):
    def __init__(self, dialect: SQLDialect) -> None:
        super().__init__(
            dialect.types,
            keyed_table=dialect.keyed_table,
            earliest=dialect.earliest,
            events=dialect.table(dialect.events[0]),
            notification_id=dialect.events[1],
        )
        self._dialect = dialect

    def __missing__(self, key: str) -> str:
        return self._dialect.table(key)


# Column types side by side: (SQLite, PostgreSQL). SQLite's INTEGER PRIMARY KEY is the rowid.
TYPES = {
    "integer": ("INTEGER", "bigint"),
    "small": ("INTEGER", "smallint"),
    "text": ("TEXT", "text"),
    "bytes": ("BLOB", "bytea"),
    "moment": ("TEXT", "timestamptz"),
    "day": ("TEXT", "date"),
}
SQLITE = SQLDialect(
    name="sqlite",
    mark="?",
    types={name: sqlite for name, (sqlite, _) in TYPES.items()},
    keyed_table=" WITHOUT ROWID",
    earliest="''",
    events=SQLITE_EVENTS,
    notifies=False,
    as_text=True,
    arrays=False,
)
POSTGRESQL = SQLDialect(
    name="postgresql",
    mark="%s",
    types={name: postgres for name, (_, postgres) in TYPES.items()},
    keyed_table="",
    earliest="'-infinity'",
    events=POSTGRES_EVENTS,
    notifies=True,
    as_text=False,
    arrays=True,
    schema="public",
)


def dialect_of(datastore: SQLiteDatastore | PostgresDatastore) -> SQLDialect:
    if isinstance(datastore, PostgresDatastore):
        return POSTGRESQL.in_schema(datastore.schema)
    return SQLITE


def moment(value: Any) -> datetime | None:
    """A stored moment as a datetime (SQLite returns the text it stored)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
