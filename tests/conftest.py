"""Shared fixtures: a ledger database on SQLite and on PostgreSQL, and a ready node."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
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
