"""Leader election: exactly one process sequences the log at a time.

With PostgreSQL, a session-level advisory lock: it is released by the database the moment the
holder's connection dies, so another replica takes over on its next attempt. With SQLite (one
machine), an exclusive `flock` on a file beside the database, released by the kernel when the
holder dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)


class LeaderLock(ABC):
    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""

    @abstractmethod
    def still_held(self) -> bool:
        """False once the lock can no longer be trusted (e.g. the connection holding it died)."""

    @abstractmethod
    def release(self) -> None: ...


@contextmanager
def held_file_lock(path: Path) -> Iterator[None]:
    """Wait for an exclusive lock on `path` (created if absent) and hold it for the block."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor drops the flock


class FileLeaderLock(LeaderLock):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._descriptor: int | None = None

    def try_acquire(self) -> bool:
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def still_held(self) -> bool:
        return self._descriptor is not None

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor drops the flock
            self._descriptor = None


def advisory_lock_key(name: str) -> int:
    """PostgreSQL's advisory locks are named by one signed 64-bit integer: the first eight bytes
    of the name's SHA-256, so that every process derives the same key for the same name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresLeaderLock(LeaderLock):
    def __init__(self, conninfo: str, name: str) -> None:
        self._conninfo = conninfo
        self._key = advisory_lock_key(name)
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def try_acquire(self) -> bool:
        try:
            connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            return False
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if not row or not row[0]:
            connection.close()
            return False
        self._connection = connection
        return True

    def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            try:
                # Unlocked before the session ends: closing alone releases the lock only once
                # the server has ended the backend, a moment later, so another replica asking
                # at once would be refused (seen under load).
                with suppress(psycopg.Error):
                    self._connection.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
                self._connection.close()
            finally:
                self._connection = None


def lead_while_running(
    lock: LeaderLock,
    stopping: threading.Event,
    follow: Callable[[], None],
    *,
    name: str,
    retry_interval: float,
    leading: threading.Event | None = None,
) -> None:
    """Take the lock whenever it is free and `follow` while holding it; on any failure release
    it and try again, until `stopping` is set. Another process takes over when this one dies."""
    while not stopping.is_set():
        if not lock.try_acquire():
            stopping.wait(retry_interval)
            continue
        try:
            log.info("this process is now the %s", name)
            if leading is not None:
                leading.set()
            follow()
        except Exception:
            log.exception("the %s stopped; retrying", name)
            stopping.wait(retry_interval)
        finally:
            if leading is not None:
                leading.clear()
            lock.release()
