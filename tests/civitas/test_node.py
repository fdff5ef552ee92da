"""Node.initialise: what several processes starting on one data folder at once agree on."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from civitas.config import build_config
from civitas.node import Initialised, Node
from ledger import secret_file
from ledger.keyring import KeyringError

SECRET_FILES = ("data-key-encryption.key", "national-identifier-lookup.key")


def node_at(data_dir: Path, environ: dict[str, str] | None = None) -> Node:
    """A ready node on the default SQLite database of `data_dir`."""
    node = Node(build_config(data_dir=str(data_dir), environ=environ or {}))
    node.initialise("civitas.test/log")
    node.upgrade_schema()
    return node


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


def test_the_database_its_wal_and_the_keys_are_the_owners_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with node_at(data_dir) as node:
        node.identity.register_citizen(
            {"national_identifier": "FILE-MODES-1", "given_name": "A"},
            "IAL1",
            "",
            "registrar",
            "cli:test",
        )
        files = [data_dir / name for name in ("civitas.sqlite", "civitas.sqlite-wal")]
        files += [p for p in (data_dir / "keys").iterdir() if p.name != "keyring.json"]
        for path in files:
            if path.name.startswith(".") and path.stat().st_size == 0:
                continue  # the folder's lock file holds nothing
            assert path.stat().st_mode & 0o777 == 0o600, path.name
        for folder in (data_dir, data_dir / "keys"):
            assert folder.stat().st_mode & 0o777 == 0o700, folder.name
        assert (data_dir / "civitas.sqlite-shm").stat().st_mode & 0o077 == 0


def test_a_database_made_wider_by_an_older_release_is_narrowed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    node_at(data_dir).close()
    (data_dir / "civitas.sqlite").chmod(0o644)
    node_at(data_dir).close()
    assert (data_dir / "civitas.sqlite").stat().st_mode & 0o777 == 0o600


def test_a_passphrase_wraps_the_data_and_lookup_keys_of_an_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder made without a passphrase keeps working once one is set: every key file is
    wrapped in place with the same secret, so citizens' sealed data still opens."""
    monkeypatch.setattr(secret_file, "SCRYPT_N", 2**10)
    data_dir = tmp_path / "data"
    with node_at(data_dir) as node:
        citizen = node.identity.register_citizen(
            {"national_identifier": "WRAP-1", "given_name": "Liis"},
            "IAL1",
            "",
            "registrar",
            "cli:test",
        ).citizen_id
    keys = data_dir / "keys"
    raw = {name: (keys / name).read_bytes() for name in SECRET_FILES}
    assert all(len(value) == 32 for value in raw.values())  # in clear without a passphrase

    environ = {"CIVITAS_KEY_PASSPHRASE": "a passphrase for the key folder"}
    with node_at(data_dir, environ) as node:
        found = node.identity.find_citizen("WRAP-1")  # the lookup key is the same
        assert found.citizen_id == citizen
        assert found.personal_data["given_name"] == "Liis"  # and so is the key-encryption key
    for name, secret in raw.items():
        stored = (keys / name).read_bytes()
        assert secret not in stored
        assert json.loads(stored)["format"] == "civitas-secret/v1"
    for pem in keys.glob("*.pem"):
        assert b"ENCRYPTED" in pem.read_bytes()
    with pytest.raises(KeyringError, match="CIVITAS_KEY_PASSPHRASE"):
        node_at(data_dir)
