"""Wake watchers when a read model changes: PostgreSQL LISTEN/NOTIFY, polling as the fallback.

The view sends NOTIFY in the transaction that writes its rows, so the signal arrives on commit,
in every replica. A watcher notes the feed's generation before it reads, then waits for the
generation to move: a signal that comes between the read and the wait is not lost. The wait is
bounded, so a dropped connection degrades to polling rather than to silence.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

import psycopg

log = logging.getLogger(__name__)


class ChangeFeed(ABC):
    @property
    @abstractmethod
    def generation(self) -> int: ...

    @abstractmethod
    def wait(self, since_generation: int, timeout: float) -> None:
        """Return once the generation moves past `since_generation`, or after `timeout`."""

    @abstractmethod
    def close(self) -> None:
        """Stop listening."""


class PollingFeed(ChangeFeed):
    """SQLite: no notifications, so every wait is simply the polling interval."""

    @property
    def generation(self) -> int:
        return 0

    def wait(self, since_generation: int, timeout: float) -> None:
        time.sleep(timeout)

    def close(self) -> None:
        """Nothing to stop."""


class PostgresChangeFeed(ChangeFeed):
    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._changed = threading.Condition()
        self._generation = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="change-feed", daemon=True)
        self._thread.start()

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def wait(self, since_generation: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._generation != since_generation, timeout)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{self._channel}"')
                    while not self._stopping.is_set():
                        for _ in connection.notifies(timeout=0.5, stop_after=1):
                            self._bump()
            except psycopg.Error:
                log.warning("change feed %s lost its connection; retrying", self._channel)
                self._bump()  # wake watchers so they re-read rather than wait out a gap
                self._stopping.wait(1.0)

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()


def channel_name(schema: str, view: str) -> str:
    """A NOTIFY channel per schema and view (PostgreSQL identifiers stop at 63 bytes)."""
    return f"civitas_{view}_{schema}"[:63]
