"""Shared fixtures: a ledger database on SQLite and on PostgreSQL, and a ready node."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from civitas.config import build_config
from civitas.node import Node, utc_now
from tests.civitas.private_postgres import fresh_schema

POSTGRES_URL = os.environ.get("CIVITAS_TEST_POSTGRES", "")
REQUIRE_POSTGRES = os.environ.get("CIVITAS_REQUIRE_POSTGRES") == "1"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def verifier_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`civitas-verify live` remembers checkpoints under $XDG_STATE_HOME: each test its own, and
    never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state-home")))


# The shared PostgreSQL server allows 100 connections (its default), and one test's servers may
# hold 40 of them (the load test's). Under pytest-xdist, at most this many PostgreSQL tests run
# at once, whatever the number of workers; SQLite tests are not held back.
POSTGRES_TESTS_AT_ONCE = 2


@pytest.fixture(autouse=True)
def postgres_slot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    if "postgres" not in request.node.nodeid.lower() or "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    # The workers' temporary folders share the run's: the slots are lock files there.
    slots = tmp_path_factory.getbasetemp().parent
    with held_slot([slots / f"postgres-slot-{n}" for n in range(POSTGRES_TESTS_AT_ONCE)]):
        yield


@contextmanager
def held_slot(slots: list[Path]) -> Iterator[None]:
    """Hold the first free one of `slots` (lock files) while the block runs."""
    while True:
        for slot in slots:
            with slot.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
        time.sleep(0.05)


def postgres_or_skip() -> str:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("CIVITAS_TEST_POSTGRES is not set but PostgreSQL tests are required")
        pytest.skip("set CIVITAS_TEST_POSTGRES to run the PostgreSQL variant")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL with a fresh schema of its own, dropped afterwards."""
    with fresh_schema(postgres_or_skip()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


def ready_node(
    data_dir: Path,
    database_url: str,
    origin: str = "civitas.test/log",
    clock: Callable[[], datetime] = utc_now,
) -> Node:
    """A node with its keys and tables, on no environment but the arguments."""
    config = build_config(data_dir=str(data_dir), database=database_url, environ={})
    ledger_node = Node(config, clock)
    ledger_node.initialise(origin)
    ledger_node.upgrade_schema()
    return ledger_node


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    ledger_node = ready_node(tmp_path / "data", database_url)
    yield ledger_node
    ledger_node.close()
