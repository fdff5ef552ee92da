"""Node.initialise: what several processes starting on one data folder at once agree on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from civitas.config import build_config
from civitas.node import Initialised, Node

STARTERS = 8


def test_of_initialisations_started_together_exactly_one_reports_creating_the_keys(
    tmp_path: Path,
) -> None:
    """Each starter has its own descriptor on the folder's lock file (flock), as separate
    processes would; the barrier lines them up so they all ask at once."""
    config = build_config(data_dir=str(tmp_path / "data"), environ={})
    barrier = threading.Barrier(STARTERS)

    def start() -> Initialised:
        node = Node(config)
        barrier.wait()
        return node.initialise("civitas.test/log")

    with ThreadPoolExecutor(STARTERS) as pool:
        results = list(pool.map(lambda _: start(), range(STARTERS)))
    assert [result.created_keys for result in results].count(True) == 1
    assert len({result.keyring.to_json_bytes() for result in results}) == 1
    assert [p.name for p in (tmp_path / "data" / "keys").glob("entry-*.pem")] == ["entry-k1.pem"]
    assert Node(config).initialise().created_keys is False  # and a later start makes none


def test_a_node_used_as_a_context_manager_closes_its_store_even_after_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = build_config(data_dir=str(tmp_path / "data"), environ={})
    closed: list[str] = []

    def failing_command() -> None:
        with Node(config) as node:
            node.initialise("civitas.test/log")
            store_close = node.store.close

            def recorded_close() -> None:
                closed.append("store")
                store_close()

            monkeypatch.setattr(node.store, "close", recorded_close)
            raise RuntimeError("a command failed")

    with pytest.raises(RuntimeError, match="a command failed"):
        failing_command()
    assert closed == ["store"]
