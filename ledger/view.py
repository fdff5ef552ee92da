"""A read model's tables with its tracked position, written once for SQLite and PostgreSQL.

Each view (the sequencer's Merkle log, every projection's tables) is one `View` subclass whose
SQL goes through `self.dialect`. `eventsourcing` builds a follower's view itself, through its
factory for the database in use, which accepts only its own tracking recorder classes; so the
class it is given is the view joined to that database's tracking recorder (`recorder_class`),
and the position is still written by `eventsourcing`, in the transaction of the view's rows.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from ledger.sql_dialect import SQLDialect, dialect_of

V = TypeVar("V", bound="View")


class View(TrackingRecorder):
    dialect: SQLDialect
    datastore: SQLiteDatastore | PostgresDatastore
    tracking_table_name: str

    def table_statements(self) -> list[str]:
        """The view's CREATE statements, as dialect templates."""
        return []

    def sql(self, template: str) -> str:
        return self.dialect.sql(template)

    if TYPE_CHECKING:  # provided by eventsourcing's recorder that `recorder_class` joins
        table_migration_identifier: str

        def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None: ...

        def insert_tracking(self, tracking: Tracking) -> None: ...

        def max_tracking_id(self, application_name: str) -> int | None: ...


class RebuildableView(View):
    """A projection's view: any time, its rows and its position can go, to replay from zero."""

    tables: ClassVar[tuple[str, ...]]

    def reset(self) -> None:
        """Forget every row and the tracked position (the migration marker row stays)."""
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables:
                c.execute(self.sql(f"DELETE FROM {{{table}}}"))  # noqa: S608 - fixed names
            c.execute(
                self.sql(
                    f"DELETE FROM {{{self.tracking_table_name}}} "  # noqa: S608 - fixed names
                    "WHERE application_name != ?"
                ),
                (self.table_migration_identifier,),
            )


class _SQLiteTracking(SQLiteTrackingRecorder):
    """`eventsourcing` keeps every SQLite follower's position in one `tracking` table keyed by
    the *followed* application's name; the sequencer and each projection follow the same log,
    so each needs a table of its own (PostgreSQL names them after the follower already)."""

    tracking_table_name = "tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        self.dialect = dialect_of(datastore)  # before eventsourcing asks for the statements
        super().__init__(datastore, **kwargs)
        table = self.tracking_table_name
        self.insert_tracking_statement = (
            f"INSERT INTO {table} VALUES (:application_name, :notification_id) "  # noqa: S608
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = :notification_id "
            f"WHERE {table}.notification_id < :notification_id RETURNING notification_id"
        )
        self.select_max_tracking_id_statement = (
            f"SELECT MAX(notification_id) FROM {table} WHERE application_name=?"  # noqa: S608
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.tracking_table_name} (application_name TEXT, "
            "notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID",
            *(self.dialect.sql(s) for s in cast(View, self).table_statements()),
        ]


class _PostgresTracking(PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        self.dialect = dialect_of(datastore)
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(
            SQL(self.dialect.sql(s)).format() for s in cast(View, self).table_statements()
        )


@cache
def recorder_class(view: type[V], postgres: bool, follower: str) -> type[V]:
    """`view` as `eventsourcing`'s factory for the database builds it, for one follower."""
    if postgres:
        return cast(type[V], type(view.__name__, (_PostgresTracking, view), {}))
    # SQLite's table is named as PostgreSQL's factory names it: after the follower.
    attributes = {"tracking_table_name": f"{follower}_tracking"}
    return cast(type[V], type(view.__name__, (_SQLiteTracking, view), attributes))
