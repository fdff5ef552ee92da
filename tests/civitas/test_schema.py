"""`civitas db upgrade` owns the schema: idempotent, and a production server never runs DDL."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import psycopg
import pytest

from civitas.config import ConfigError, build_config
from civitas.node import Node
from ledger.schema import SCHEMA_VERSION, SchemaVersions
from ledger.sql_dialect import dialect_of
from ledger.store import SNAPSHOTS_TABLES
from tests.civitas.certificates import CertificateAuthority
from tests.civitas.server_process import civitas, civitas_command, running_server


def run(data_dir: Path, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return civitas(data_dir, database, *args, check=False)


def postgres_tables(url: str) -> set[str]:
    schema = parse_qs(urlparse(url).query)["schema"][0]
    with psycopg.connect(url.split("?", maxsplit=1)[0]) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {row[0] for row in rows}


def test_upgrade_creates_the_schema_once_and_reports_the_version(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    unprepared = Node(build_config(data_dir=str(data_dir), database=database_url, environ={}))
    unprepared.initialise()  # keys, but no tables yet
    unprepared.close()
    version = run(data_dir, database_url, "db", "version")
    assert version.returncode == 1
    assert json.loads(version.stdout) == {"database": 0, "release": SCHEMA_VERSION}

    first = civitas(data_dir, database_url, "db", "upgrade").stdout
    assert f"upgraded from version 0 to {SCHEMA_VERSION}" in first
    again = civitas(data_dir, database_url, "db", "upgrade").stdout
    assert f"already at version {SCHEMA_VERSION}" in again

    version = run(data_dir, database_url, "db", "version")
    assert version.returncode == 0
    assert json.loads(version.stdout)["database"] == SCHEMA_VERSION


def test_a_production_server_refuses_an_unmigrated_database_and_creates_nothing(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    data_dir = tmp_path / "data"
    cert, key, _ = CertificateAuthority().write_server_files(tmp_path)
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))

    refused = run(data_dir, postgres_schema_url, "serve", "--port", "0", *tls)
    assert refused.returncode == 2
    assert "civitas db upgrade" in refused.stderr
    assert postgres_tables(postgres_schema_url) == set()
    assert not (data_dir / "keys").exists()  # nor a keyring of its own

    keys_only = Node(build_config(data_dir=str(data_dir), database=postgres_schema_url, environ={}))
    keys_only.initialise()  # a keys folder, but the schema still missing
    keys_only.close()
    refused = run(data_dir, postgres_schema_url, "accounts", "add", "portal", "--role", "admin")
    assert refused.returncode == 2
    assert "civitas db upgrade" in refused.stderr
    assert postgres_tables(postgres_schema_url) == set()

    civitas(data_dir, postgres_schema_url, "db", "upgrade")
    tables = postgres_tables(postgres_schema_url)
    assert {"ledger_events", "merkle_leaves", "timeline", "civitas_schema_versions"} <= tables
    with running_server(data_dir, postgres_schema_url, *tls) as (_, log):
        assert "DEVELOPMENT MODE" not in log.read_text()


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init")
    config = build_config(data_dir=str(data_dir), database=database_url, environ={})
    node = Node(config)
    SchemaVersions(node.store.datastore).record(SCHEMA_VERSION + 1)
    with pytest.raises(ConfigError, match="newer"):
        node.prepare_schema()
    node.close()

    upgrade = run(data_dir, database_url, "db", "upgrade")
    assert upgrade.returncode == 2
    assert "newer" in upgrade.stderr


def test_upgrades_started_together_make_one_keyring_and_one_version(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    commands = [
        subprocess.Popen(
            civitas_command(data_dir, database_url, "db", "upgrade"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [command.communicate(timeout=60) for command in commands]
    assert [command.returncode for command in commands] == [0, 0, 0], outcomes
    upgraded = [out for out, _ in outcomes if "upgraded from version 0" in out]
    assert len(upgraded) == 1, outcomes
    assert sum("created the ledger keys" in out for out, _ in outcomes) == 1
    assert len(list((data_dir / "keys").glob("entry-*.pem"))) == 1
    node = Node(build_config(data_dir=str(data_dir), database=database_url, environ={}))
    assert SchemaVersions(node.store.datastore).current() == SCHEMA_VERSION
    node.close()


def test_a_tls_server_on_sqlite_makes_its_own_tables(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    cert, key, _ = CertificateAuthority().write_server_files(tmp_path)
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    with running_server(tmp_path / "data", database, *tls) as (_, log):
        assert "DEVELOPMENT MODE" not in log.read_text()


def test_upgrade_from_version_1_adds_the_snapshots_table(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "db", "upgrade")
    config = build_config(data_dir=str(data_dir), database=database_url, environ={})
    node = Node(config)
    dialect = dialect_of(node.store.datastore)
    with node.store.datastore.transaction(commit=True) as cursor:  # as release 1 left it
        cursor.execute(dialect.sql(f"DROP TABLE {{{SNAPSHOTS_TABLES[dialect.name]}}}"))
        cursor.execute(dialect.sql("DELETE FROM {civitas_schema_versions}"))
    SchemaVersions(node.store.datastore).record(1)
    node.close()

    upgraded = civitas(data_dir, database_url, "db", "upgrade").stdout
    assert f"upgraded from version 1 to {SCHEMA_VERSION}" in upgraded
    node = Node(replace(config, create_schema=False))  # runs no DDL of its own
    try:
        assert list(node.store.snapshots.get(UUID(int=1))) == []  # the table is there
    finally:
        node.close()
