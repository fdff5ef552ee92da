"""Wake watchers when a read model changes, saying which keys (citizens) changed: PostgreSQL
LISTEN/NOTIFY with the key as payload; with SQLite, one probe of the view for the whole process.

The view sends one NOTIFY per key it wrote, in the transaction that writes its rows, so the
signal arrives on commit, in every replica. Each move tells its listeners the keys it concerns,
or `EVERYONE` when the feed cannot tell (a lost connection, a burst too large to list): a watch
wakes only for its own key (issue 14: one write must not make every idle watch re-read). A
watcher notes the generation before it reads, then waits for it to move: a signal that comes
between the read and the wait is not lost (civitas/api/change_waiter.py keeps this per key).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection

import psycopg

log = logging.getLogger(__name__)

# The keys a move concerns; EVERYONE (None) when any key may have changed.
Keys = frozenset[str] | None
EVERYONE: Keys = None


class ChangeFeed(ABC):
    """Follows the view in one thread of the feed's own (`_follow`) and tells its listeners
    (`on_change`) of each change and the keys it concerns. The watchers wait on an event loop,
    not in a thread, each for its own key (civitas/api/change_waiter.py keeps the generations)."""

    _listeners: tuple[Callable[[Keys], None], ...] = ()

    def __init__(self, thread_name: str) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=thread_name, daemon=True)
        self._thread.start()

    def on_change(self, listener: Callable[[Keys], None]) -> None:
        """Call `listener` with the changed keys (from the feed's thread; it must not block)
        each time the feed moves."""
        self._listeners = (*self._listeners, listener)

    def close(self) -> None:
        """Stop following."""
        self._stopping.set()
        self._thread.join(timeout=5)

    @abstractmethod
    def _follow(self) -> None:
        """Until `_stopping` is set, `_bump` on every change of the view."""

    def _bump(self, keys: Collection[str] | None = EVERYONE) -> None:
        changed = None if keys is None else frozenset(keys)
        for listener in self._listeners:
            listener(changed)


class ProbingFeed(ChangeFeed):
    """SQLite in one process: one thread asks `latest` (the view's latest position) every
    `interval`; when it moved, `keys_between(last, latest)` says which keys the new rows are
    for (EVERYONE when too many to list), and the feed moves for those. Two small queries per
    interval for the whole process, however many watchers wait."""

    def __init__(
        self,
        latest: Callable[[], int],
        keys_between: Callable[[int, int], Collection[str] | None],
        interval: float,
    ) -> None:
        self._latest = latest
        self._keys_between = keys_between
        self._interval = interval
        super().__init__("change-probe")

    def _follow(self) -> None:
        last: int | None = None
        while not self._stopping.wait(self._interval):
            try:
                latest = self._latest()
                if latest == last:
                    continue
                if last is None or latest < last:  # the first look, or the view rebuilt
                    keys: Collection[str] | None = EVERYONE
                else:
                    keys = self._keys_between(last, latest)
            except Exception:  # a locked or closing database: the next probe asks again
                log.debug("change probe failed", exc_info=True)
                continue
            last = latest
            self._bump(keys)


class PostgresChangeFeed(ChangeFeed):
    """LISTENs on the view's channel: each notification's payload is one changed key (PostgreSQL
    folds identical notifications of one transaction into one)."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        super().__init__("change-feed")

    def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{self._channel}"')
                    self._bump()  # what committed while no one listened: anyone's
                    while not self._stopping.is_set():
                        for notify in connection.notifies(timeout=0.5, stop_after=1):
                            # The payload is the key; an empty one (an older writer): anyone's.
                            self._bump({notify.payload} if notify.payload else EVERYONE)
            except psycopg.Error:
                log.warning("change feed %s lost its connection; retrying", self._channel)
                self._bump()  # wake watchers so they re-read rather than wait out a gap
                self._stopping.wait(1.0)


def channel_name(schema: str, view: str) -> str:
    """A NOTIFY channel per schema and view (PostgreSQL identifiers stop at 63 bytes)."""
    return f"civitas_{view}_{schema}"[:63]
