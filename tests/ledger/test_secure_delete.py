"""The WAL checkpoint after an erasure is best effort: it never raises, never keeps the pool's
writer (or SQLite's write lock) for long, and succeeds once the readers let it."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteDatastore

from ledger.secure_delete import checkpoint_wal, reclaim


@pytest.fixture
def datastore(tmp_path: Path) -> Iterator[SQLiteDatastore]:
    # As the ledger's: WAL, and a busy timeout far longer than the pool's 5 s for the writer.
    store = SQLiteDatastore(str(tmp_path / "ledger.sqlite"), lock_timeout=30)
    with store.transaction(commit=True) as cursor:
        cursor.execute("CREATE TABLE t (v TEXT)")
    _write(store, "before")
    yield store
    store.close()


def _write(datastore: SQLiteDatastore, value: str) -> None:
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("INSERT INTO t VALUES (?)", (value,))


def _wal(datastore: SQLiteDatastore) -> Path:
    return Path(datastore.pool.db_name + "-wal")


def _reader(datastore: SQLiteDatastore) -> sqlite3.Connection:
    """Another connection in a read transaction: its snapshot keeps the WAL's frames."""
    reader = sqlite3.connect(datastore.pool.db_name, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchall()
    return reader


def test_a_reader_does_not_make_the_checkpoint_hold_the_writer(
    datastore: SQLiteDatastore,
) -> None:
    _write(datastore, "personal")
    with closing(_reader(datastore)) as reader:
        started = time.monotonic()
        assert not checkpoint_wal(datastore, budget=0.5)  # given up quietly, no 30 s busy wait
        assert time.monotonic() - started < 3
        # Meanwhile another request of the same pool writes: it got the writer in time.
        finished: list[float] = []

        def other_request() -> None:
            begun = time.monotonic()
            _write(datastore, "other")
            finished.append(time.monotonic() - begun)

        writer = threading.Thread(target=other_request)
        writer.start()
        assert not checkpoint_wal(datastore, budget=1.0)
        writer.join(10)
        assert finished
        assert finished[0] < 2
        reader.rollback()
    assert checkpoint_wal(datastore)
    assert _wal(datastore).stat().st_size == 0


def test_a_busy_writer_makes_the_checkpoint_give_up_not_raise(datastore: SQLiteDatastore) -> None:
    # eventsourcing's pool raises ConnectionUnavailableError (an OperationalError, which the API
    # answers as UNAVAILABLE) when its writer is not returned within the pool timeout.
    held = datastore.pool.get_connection(is_writer=True)
    try:
        assert not checkpoint_wal(datastore, budget=0.3)
    finally:
        datastore.pool.put_connection(held)
    assert checkpoint_wal(datastore)


def test_another_connection_writing_makes_the_checkpoint_give_up_not_raise(
    datastore: SQLiteDatastore,
) -> None:
    with closing(sqlite3.connect(datastore.pool.db_name, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # a view's pool, writing
        other.execute("INSERT INTO t VALUES ('view')")
        started = time.monotonic()
        assert not checkpoint_wal(datastore, budget=0.3)
        assert time.monotonic() - started < 3
        other.commit()
    assert checkpoint_wal(datastore)


def test_reclaim_on_a_closed_store_does_not_raise(datastore: SQLiteDatastore) -> None:
    _write(datastore, "personal")
    datastore.close()
    reclaim(datastore, "t")  # gives up quietly: the erasure it follows is done
