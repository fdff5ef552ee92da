"""On SQLite, a read is served while another request holds the one writer's connection."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import SQLiteDatastore

from ledger.sqlite_pool import IDLE_CONNECTIONS, ReadersPassWritersPool, unblock_readers


def datastore(tmp_path: Path) -> SQLiteDatastore:
    store = SQLiteDatastore(str(tmp_path / "pool.sqlite"), pool_timeout=0.5)
    unblock_readers(store)
    return store


def test_a_reader_passes_a_writer_that_waits_for_another(tmp_path: Path) -> None:
    store = datastore(tmp_path)
    pool = store.pool
    assert isinstance(pool, ReadersPassWritersPool)
    assert pool.pool_size == IDLE_CONNECTIONS
    first_writer = pool.get_connection(is_writer=True)
    second_waiting = threading.Event()
    second_got: list[object] = []

    def second_writer() -> None:
        second_waiting.set()
        second_got.append(pool.get_connection(timeout=5, is_writer=True))

    thread = threading.Thread(target=second_writer)
    thread.start()
    second_waiting.wait()
    time.sleep(0.05)  # into its wait for the writer: a blocked acquire cannot signal that
    # With eventsourcing's own pool, this read waited for both writers' commits.
    reader = pool.get_connection(timeout=0.2, is_writer=False)
    pool.put_connection(reader)
    assert second_got == []  # one writer at a time still
    pool.put_connection(first_writer)
    thread.join(timeout=5)
    (second,) = second_got
    pool.put_connection(second)  # type: ignore[arg-type]
    store.close()


def test_a_writer_waits_at_most_the_pool_timeout(tmp_path: Path) -> None:
    store = datastore(tmp_path)
    held = store.pool.get_connection(is_writer=True)
    with pytest.raises(ConnectionUnavailableError):
        store.pool.get_connection(timeout=0.05, is_writer=True)
    store.pool.put_connection(held)
    store.pool.put_connection(store.pool.get_connection(timeout=0.05, is_writer=True))
    store.close()
