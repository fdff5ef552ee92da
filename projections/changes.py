"""Wake watchers when a read model changes: PostgreSQL LISTEN/NOTIFY; with SQLite, one
probe of the view's latest position for the whole process.

The view sends NOTIFY in the transaction that writes its rows, so the signal arrives on commit,
in every replica. A watcher notes the feed's generation before it reads, then waits for the
generation to move: a signal that comes between the read and the wait is not lost. The wait is
bounded, so a dropped connection degrades to polling rather than to silence.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)


class ChangeFeed(ABC):
    """A generation that moves each time the view changes, moved by one thread of the feed's
    own (`_follow`). Also tells listeners (`on_change`) of each move: an event loop's watchers
    wait on the loop, not in a thread (civitas/api/change_waiter.py)."""

    _listeners: tuple[Callable[[], None], ...] = ()

    def __init__(self, thread_name: str) -> None:
        self._changed = threading.Condition()
        self._generation = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=thread_name, daemon=True)
        self._thread.start()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the feed's thread; it must not block) each time it moves."""
        self._listeners = (*self._listeners, listener)

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def wait(self, since_generation: int, timeout: float) -> None:
        """Return once the generation moves past `since_generation`, or after `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != since_generation, timeout)

    def close(self) -> None:
        """Stop following."""
        self._stopping.set()
        self._thread.join(timeout=5)

    @abstractmethod
    def _follow(self) -> None:
        """Until `_stopping` is set, `_bump` on every change of the view."""

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        for listener in self._listeners:
            listener()


class ProbingFeed(ChangeFeed):
    """SQLite in one process: one thread asks `probe` (the view's latest position) every
    `interval` and moves the generation when the answer changes. One query per interval for
    the whole process, however many watchers wait."""

    def __init__(self, probe: Callable[[], object], interval: float) -> None:
        self._probe = probe
        self._interval = interval
        super().__init__("change-probe")

    def _follow(self) -> None:
        last = None
        while not self._stopping.wait(self._interval):
            try:
                latest = self._probe()
            except Exception:  # a locked or closing database: the next probe asks again
                log.debug("change probe failed", exc_info=True)
                continue
            if latest != last:
                last = latest
                self._bump()


class PostgresChangeFeed(ChangeFeed):
    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        super().__init__("change-feed")

    def _follow(self) -> None:
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


def channel_name(schema: str, view: str) -> str:
    """A NOTIFY channel per schema and view (PostgreSQL identifiers stop at 63 bytes)."""
    return f"civitas_{view}_{schema}"[:63]
