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

from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore

IDLE_CONNECTIONS = 32  # the server's worker threads (civitas/server.py)


class ReadersPassWritersPool(SQLiteConnectionPool):
    """Made by `unblock_readers` from a pool already in use (never constructed)."""

    _one_writer: threading.Lock
    _writers: set[int]

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
    """Make *datastore*'s pool a `ReadersPassWritersPool`, in place: whatever was set on it
    already (`ledger.secure_delete`'s connections) stays, and no connection is dropped."""
    pool = datastore.pool
    if pool.is_sqlite_memory_mode or isinstance(pool, ReadersPassWritersPool):
        return  # an in-memory database needs the pool's read/write exclusion
    pool._one_writer = threading.Lock()  # type: ignore[attr-defined]
    pool._writers = set()  # type: ignore[attr-defined]
    pool.pool_size = max(pool.pool_size, IDLE_CONNECTIONS)
    pool.__class__ = ReadersPassWritersPool
