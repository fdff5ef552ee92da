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

import logging
import sqlite3
import time
from typing import Any

import psycopg
from eventsourcing.domain import EventSourcingError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)

# A checkpoint cannot truncate the WAL while another connection reads an older snapshot (a
# projection, a watch) or writes: it is tried again, for at most CHECKPOINT_BUDGET seconds,
# before giving up quietly (the next erasure's checkpoint, or SQLite's own, finishes it).
# Each try holds the pool's writer connection, and with it SQLite's write lock, for at most
# CHECKPOINT_WAIT_MS: never the connections' long busy timeout (SQLITE_LOCK_TIMEOUT), which would
# keep every other writer of the pool waiting past its pool timeout (ConnectionUnavailableError,
# an RPC answered UNAVAILABLE) and the erasure's own RPC waiting that long per try.
CHECKPOINT_BUDGET = 5.0
CHECKPOINT_WAIT_MS = 100
CHECKPOINT_PAUSE = 0.02
# How long one try waits for the pool's writer connection, which a request may be using.
WRITER_WAIT = 0.5


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
    """After deleting personal data from `tables`: leave no old copy in the database files.

    Best effort, and it never raises: it runs once the deletion is committed, so a failure here
    must not turn a done erasure (or a done projection step) into an error its caller retries.
    """
    if isinstance(datastore, PostgresDatastore):
        try:
            _vacuum(datastore, tables)
        except (EventSourcingError, psycopg.Error):
            log.warning("vacuum after an erasure failed; old row versions stay", exc_info=True)
    else:
        checkpoint_wal(datastore)


def checkpoint_wal(datastore: SQLiteDatastore, budget: float = CHECKPOINT_BUDGET) -> bool:
    """Copy the WAL into the database and truncate it to nothing; False if it could not be done
    within `budget` seconds (readers kept it, the writer was busy, the pool closed). Never
    raises."""
    deadline = time.monotonic() + budget
    while True:
        if _checkpoint_once(datastore):
            return True
        if datastore.pool._closed or time.monotonic() + CHECKPOINT_PAUSE >= deadline:
            log.warning("the WAL was not truncated after an erasure within %ss", budget)
            return False
        time.sleep(CHECKPOINT_PAUSE)


def _checkpoint_once(datastore: SQLiteDatastore) -> bool:
    pool = datastore.pool
    try:
        connection = pool.get_connection(timeout=WRITER_WAIT, is_writer=True)
    except EventSourcingError:  # the writer is busy (ConnectionUnavailableError); pool closed
        return False
    try:
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = bool(cursor.fetchone()[0])
        finally:
            lock_timeout = pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT
            cursor.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
    except sqlite3.Error:  # locked
        return False
    finally:
        pool.put_connection(connection)
    return not busy


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
