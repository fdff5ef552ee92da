"""SQLite connections for a threaded server: reads never queue behind a commit.

`eventsourcing`'s pool serialises writers with a lock, but takes that lock while holding the
pool's one "fairness" semaphore: a second writer waiting for the first one's commit (an fsync)
holds the semaphore, and every reader, which WAL would let run, queues behind it. Profiled
under benchmarks/auth.py (py-spy on `civitas serve`, issue 14), a third of the RPC threads'
time was spent there. Here the writer lock is taken before the pool is entered, and the pool
keeps as many idle connections as the server has workers, so none is opened and closed per
request.
"""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore

IDLE_CONNECTIONS = 32  # the server's worker threads (civitas/server.py)


class ReadersPassWritersPool(SQLiteConnectionPool):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._one_writer = threading.Lock()
        self._writers: set[int] = set()

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        if not is_writer:
            return super().get_connection(timeout)
        wait = self.pool_timeout if timeout is None else timeout
        if not self._one_writer.acquire(timeout=wait):
            raise ConnectionUnavailableError("Timed out waiting for return of writer")
        try:
            connection = super().get_connection(timeout)
        except BaseException:
            self._one_writer.release()
            raise
        self._writers.add(id(connection))
        return connection

    def put_connection(self, conn: SQLiteConnection) -> None:
        try:
            super().put_connection(conn)
        finally:
            if id(conn) in self._writers:
                self._writers.discard(id(conn))
                self._one_writer.release()


def unblock_readers(datastore: SQLiteDatastore) -> None:
    """Give *datastore* a `ReadersPassWritersPool` like the pool it was made with."""
    old = datastore.pool
    if old.is_sqlite_memory_mode:
        return  # an in-memory database needs the pool's read/write exclusion
    datastore.pool = ReadersPassWritersPool(
        db_name=old.db_name,
        lock_timeout=old.lock_timeout,
        pool_size=max(old.pool_size, IDLE_CONNECTIONS),
        max_overflow=old.max_overflow,
        pool_timeout=old.pool_timeout,
        max_age=old.max_age,
        pre_ping=old.pre_ping,
    )
    old.close()
