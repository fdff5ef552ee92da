"""Fail fast while PostgreSQL is unreachable, so callers hear UNAVAILABLE in seconds.

`eventsourcing` retries every recorder call ten times on a connection error, and each attempt
waits for the pool's connect timeout: with the database down an RPC would hang for half a
minute. After one failed attempt to get a connection, the breaker answers every request for a
connection with an immediate error until a quick probe connects again; the library's retries
then end in about two seconds, and the first call after the database returns gets a
connection within a second or two (pooled connections are pinged before use).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore

COOL_DOWN_SECONDS = 1.0
# psycopg's pool retries a lost connection with a doubling delay for five minutes by default;
# after a ten-second outage its next attempt could be a quarter of a minute away. Giving up
# early lets the next request for a connection start a fresh attempt at once.
POOL_RECONNECT_SECONDS = 3.0


class ConnectionBreaker:
    """Closed: every request tries the pool. Open: every request fails at once until the
    cool-down ends; then one request probes with a fresh connection (refused at once while the
    server is down), which closes the breaker or opens it for another cool-down."""

    def __init__(
        self,
        probe: Callable[[], None],
        cool_down: float = COOL_DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._cool_down = cool_down
        self._clock = clock
        self._open_until: float | None = None  # None while closed
        self._probing = False
        self._lock = threading.Lock()

    def _may_try(self) -> bool:
        with self._lock:
            if self._open_until is None:
                return True
            if self._probing or self._clock() < self._open_until:
                return False
            self._probing = True
        if not self._reachable():
            self._failed()
            return False
        with self._lock:
            self._open_until, self._probing = None, False
        return True

    def _reachable(self) -> bool:
        try:
            self._probe()
        except Exception:
            return False
        return True

    def _failed(self) -> None:
        with self._lock:
            self._open_until, self._probing = self._clock() + self._cool_down, False

    def guard(
        self, get_connection: Callable[[], AbstractContextManager[Any]]
    ) -> Callable[[], AbstractContextManager[Any]]:
        """Wrap a `get_connection`: only failing to *get* a connection trips the breaker; an
        error in the statements that follow is the caller's business."""

        @contextmanager
        def guarded() -> Iterator[Any]:
            if not self._may_try():
                raise OperationalError("the database was unreachable moments ago")
            manager = get_connection()
            try:
                connection = manager.__enter__()
            except Exception:
                # A pool that is merely busy times out the same way as a database that is
                # gone: only a failing fresh connection means the database is unreachable.
                if not self._reachable():
                    self._failed()
                raise
            with _entered(manager):
                yield connection

        return guarded


@contextmanager
def _entered(manager: AbstractContextManager[Any]) -> Iterator[None]:
    """Exit a context manager that was entered already, passing on what the body raised."""
    try:
        yield
    except BaseException as error:
        if not manager.__exit__(type(error), error, error.__traceback__):
            raise
    else:
        manager.__exit__(None, None, None)


def connect_probe(conninfo: str) -> Callable[[], None]:
    def probe() -> None:
        psycopg.connect(conninfo, connect_timeout=2).close()

    return probe


def protect(datastore: PostgresDatastore, breaker: ConnectionBreaker) -> None:
    """Route every connection the datastore hands out (`transaction`, `cursor`, recorders)
    through the breaker."""
    datastore.pool.reconnect_timeout = POOL_RECONNECT_SECONDS
    datastore.get_connection = breaker.guard(datastore.get_connection)  # type: ignore[method-assign,assignment]
