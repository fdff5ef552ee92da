"""The connection breaker: fail fast while the database is gone, not while a pool is busy."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import eventsourcing.postgres
import psycopg_pool
import pytest
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore

from ledger.breaker import POOL_RECONNECT_SECONDS, ConnectionBreaker, protect


class Database:
    def __init__(self) -> None:
        self.up = True
        self.pool_busy = False
        self.connections_asked = 0
        self.probes = 0
        self.now = 0.0

    def probe(self) -> None:
        self.probes += 1
        if not self.up:
            raise OSError("connection refused")

    def get_connection(self) -> AbstractContextManager[Any]:
        @contextmanager
        def connection() -> Iterator[str]:
            self.connections_asked += 1
            if not self.up or self.pool_busy:
                raise OperationalError("couldn't get a connection after 2.00 sec")
            yield "connection"

        return connection()


@pytest.fixture
def database() -> Database:
    return Database()


@pytest.fixture
def guarded(database: Database) -> Any:
    breaker = ConnectionBreaker(database.probe, cool_down=1.0, clock=lambda: database.now)
    return breaker.guard(database.get_connection)


def test_a_healthy_database_is_never_probed(database: Database, guarded: Any) -> None:
    for _ in range(3):
        with guarded() as connection:
            assert connection == "connection"
    assert (database.connections_asked, database.probes) == (3, 0)


def test_after_one_failure_requests_fail_at_once_until_a_probe_connects(
    database: Database, guarded: Any
) -> None:
    database.up = False
    with pytest.raises(OperationalError), guarded():
        pass
    asked = database.connections_asked
    for _ in range(5):  # open: no request waits on the pool, none probes
        with pytest.raises(OperationalError, match="moments ago"), guarded():
            pass
    assert database.connections_asked == asked
    database.now = 1.5  # the cool-down is over, the database still down: one probe fails
    with pytest.raises(OperationalError, match="moments ago"), guarded():
        pass
    database.up = True
    database.now = 3.0
    with guarded() as connection:
        assert connection == "connection"


def test_a_busy_pool_does_not_open_the_breaker(database: Database, guarded: Any) -> None:
    database.pool_busy = True
    with pytest.raises(OperationalError), guarded():
        pass
    database.pool_busy = False
    with guarded() as connection:  # no cool-down: the database was reachable all along
        assert connection == "connection"


def test_errors_inside_the_block_are_the_callers_business(database: Database, guarded: Any) -> None:
    with pytest.raises(ValueError, match="bad statement"), guarded():
        raise ValueError("bad statement")
    with guarded() as connection:
        assert connection == "connection"
    assert database.probes == 0


# --- the eventsourcing hook that `protect` patches ----------------------------------------------
# `protect` replaces `PostgresDatastore.get_connection` on each datastore and sets the pool's
# `reconnect_timeout`. Nothing type-checks a monkeypatch, so these tests fail instead when an
# upgrade of eventsourcing (or psycopg_pool) moves or reshapes either hook.


def test_get_connection_is_a_context_manager_method_without_arguments() -> None:
    hook = PostgresDatastore.get_connection
    assert list(inspect.signature(hook).parameters) == ["self"]
    assert inspect.isgeneratorfunction(inspect.unwrap(hook))  # a @contextmanager


def test_the_pool_still_has_a_reconnect_timeout() -> None:
    parameters = inspect.signature(psycopg_pool.ConnectionPool.__init__).parameters
    assert "reconnect_timeout" in parameters
    assert isinstance(unreachable_datastore().pool.reconnect_timeout, float)


def test_every_connection_the_datastore_hands_out_passes_get_connection() -> None:
    """Recorders take connections through `get_connection`, `transaction` or `cursor`; only
    `get_connection` itself may take one from the pool, or the breaker would be bypassed."""
    source = inspect.getsource(eventsourcing.postgres)
    hook = inspect.getsource(PostgresDatastore.get_connection)
    assert source.count("pool.connection(") == hook.count("pool.connection(") == 1
    assert "getconn(" not in source


def test_a_protected_datastore_refuses_at_once_while_the_breaker_is_open() -> None:
    database = Database()
    database.up = False
    breaker = ConnectionBreaker(database.probe, cool_down=1.0, clock=lambda: database.now)
    with pytest.raises(OperationalError), breaker.guard(database.get_connection)():
        pass  # the database is gone: the breaker opens
    datastore = unreachable_datastore()
    protect(datastore, breaker)
    assert datastore.pool.reconnect_timeout == POOL_RECONNECT_SECONDS
    for take in (datastore.get_connection, datastore.cursor, datastore.transaction):
        with pytest.raises(OperationalError, match="unreachable moments ago"), take():
            pass
    assert database.connections_asked == 1  # none of them reached for a connection


def unreachable_datastore() -> PostgresDatastore:
    # The pool is created closed: nothing connects until a connection is asked for.
    return PostgresDatastore("civitas", "127.0.0.1", 9, "civitas", "", connect_timeout=0.1)
