"""Deleted data that is gone from the database files too, not only from its tables.

An erasure deletes a citizen's wrapped data key and overwrites payloads; a database keeps the
old bytes of both in free space, in old row versions and in its write-ahead log until they are
reused. With the key-encryption key in hand, a wrapped data key read from there would open
every sealed field of an erased citizen again, so:

- SQLite: every connection runs `PRAGMA secure_delete = ON` (deleted content is overwritten
  with zeros, in freed pages too), and after an erasure the WAL is checkpointed and truncated,
  so no frame of the pages as they were before stays in `<db>-wal`;
- PostgreSQL: after an erasure the tables it touched are vacuumed, so the dead row versions
  are removed from their pages (`VACUUM`; the small data-key table is rewritten whole with
  `VACUUM FULL`). The server's own WAL and its archive are beyond a client's reach: they keep
  the old rows until the server recycles them (docs/erasure.md).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteConnection, SQLiteDatastore, SQLiteFactory
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier

# A checkpoint cannot truncate the WAL while another connection reads an older snapshot
# (a projection, a watch): it is tried again for this long before giving up quietly (the next
# erasure's checkpoint, or SQLite's own, finishes it).
CHECKPOINT_TRIES = 50
CHECKPOINT_PAUSE = 0.02


def secure_connections(datastore: SQLiteDatastore) -> None:
    """Every connection the datastore opens from now on zeroes what it deletes."""
    pool = datastore.pool
    create = pool._create_connection

    def create_secure() -> SQLiteConnection:
        connection = create()
        connection.cursor().execute("PRAGMA secure_delete = ON")
        return connection

    pool._create_connection = create_secure  # type: ignore[method-assign]


class SecureSQLiteFactory(SQLiteFactory):
    """`eventsourcing`'s SQLite persistence, with `secure_delete` on every connection: the
    store's, the views', and those the sequencer and projection runners build from the env."""

    def __init__(self, env: Environment | Any) -> None:
        super().__init__(env)
        secure_connections(self.datastore)


def reclaim(datastore: SQLiteDatastore | PostgresDatastore, *tables: str) -> None:
    """After deleting personal data from `tables`: leave no old copy in the database files."""
    if isinstance(datastore, PostgresDatastore):
        _vacuum(datastore, tables)
    else:
        checkpoint_wal(datastore)


def checkpoint_wal(datastore: SQLiteDatastore) -> bool:
    """Copy the WAL into the database and truncate it to nothing; False if readers kept it."""
    for _ in range(CHECKPOINT_TRIES):
        with datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = cursor.fetchone()[0]
            except sqlite3.OperationalError:  # locked: try again
                busy = 1
        if not busy:
            return True
        time.sleep(CHECKPOINT_PAUSE)
    return False


def _vacuum(datastore: PostgresDatastore, tables: tuple[str, ...]) -> None:
    with datastore.get_connection() as connection:
        autocommit = connection.autocommit
        connection.autocommit = True  # VACUUM runs outside a transaction block
        try:
            for table in tables:
                full = SQL("FULL ") if table == DATA_KEY_TABLE else SQL("")
                connection.execute(
                    SQL("VACUUM {full}{table}").format(
                        full=full, table=Identifier(datastore.schema, table)
                    )
                )
        finally:
            connection.autocommit = autocommit


DATA_KEY_TABLE = "citizen_data_keys"
