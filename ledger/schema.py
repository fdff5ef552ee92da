"""The database schema's version, so a production server never runs DDL on its own.

Tables are created by the recorders that own them (`CREATE TABLE IF NOT EXISTS`, so creating
again is harmless); this module only remembers which release's schema the database holds. Each
upgrade appends a row, which keeps the history of upgrades in the database itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Identifier

# The schema this release reads and writes. Raise it with every change to a table, and teach
# `Node.upgrade_schema` the step that brings the previous version to it.
# 2 (issue 14): the snapshots table (ledger/snapshots.py), made by the store's recorder.
# 3 (issue 15): the witnesses' cosignatures (checkpoint_cosignatures), made by the log's view.
# 4 (issue 14): an index on the timeline's position (SQLite's change probe reads the citizens of
# new rows every 0.1 s), made by the timeline's view.
SCHEMA_VERSION = 4
TABLE = "civitas_schema_versions"


class SchemaVersions:
    """Reads and records the schema version in the ledger's own database."""

    def __init__(self, datastore: SQLiteDatastore | PostgresDatastore) -> None:
        self._datastore = datastore

    def current(self) -> int:
        """The version the database was last upgraded to; 0 for a database never upgraded."""
        if isinstance(self._datastore, PostgresDatastore):
            return self._current_postgres(self._datastore)
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
            )
            if cursor.fetchone() is None:
                return 0
            cursor.execute(f"SELECT max(version) FROM {TABLE}")  # noqa: S608 - fixed name
            row = cursor.fetchone()
        return int(row[0] or 0)

    def _current_postgres(self, datastore: PostgresDatastore) -> int:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL AS present",
                (datastore.schema, TABLE),
            )
            row = cursor.fetchone()
            if row is None or not row["present"]:
                return 0
            cursor.execute(SQL("SELECT max(version) AS version FROM {}").format(self._pg_table()))
            row = cursor.fetchone()
        return 0 if row is None else int(row["version"] or 0)

    def record(self, version: int) -> None:
        """Note that the database now holds `version` (the caller created its tables)."""
        upgraded_at = datetime.now(UTC).isoformat()
        if isinstance(self._datastore, PostgresDatastore):
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    SQL(
                        "CREATE TABLE IF NOT EXISTS {} ("
                        "version integer NOT NULL, upgraded_at text NOT NULL)"
                    ).format(self._pg_table())
                )
                cursor.execute(
                    SQL("INSERT INTO {} VALUES (%s, %s)").format(self._pg_table()),
                    (version, upgraded_at),
                )
            return
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} "
                "(version INTEGER NOT NULL, upgraded_at TEXT NOT NULL)"
            )
            cursor.execute(f"INSERT INTO {TABLE} VALUES (?, ?)", (version, upgraded_at))  # noqa: S608

    def _pg_table(self) -> psycopg.sql.Composed:
        assert isinstance(self._datastore, PostgresDatastore)
        return SQL("{}.{}").format(Identifier(self._datastore.schema), Identifier(TABLE))
