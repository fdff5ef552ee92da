"""Wrong input to `civitas` is refused, not guessed: one line on stderr, a non-zero exit, and
not a file or folder made, not ./civitas-data, not the database, not the keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from civitas.config import build_config
from civitas.node import Node
from tests.civitas.certificates import CertificateAuthority
from tests.civitas.server_process import civitas, free_port, running_server

pytestmark = pytest.mark.timeout(120)


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`civitas ARGS` in `folder`, with no CIVITAS_* setting from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVITAS_")}
    return subprocess.run(
        [sys.executable, "-m", "civitas.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tree(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def refused(folder: Path, *args: str) -> str:
    """Run a command that must be refused; returns its one-line message."""
    before = tree(folder)
    done = run(folder, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("civitas: ")
    assert tree(folder) == before  # nothing made: no data folder, no database file, no keys
    return lines[0]


@pytest.mark.parametrize("database", ["notaurl", "mysql://x/y", "sqlite:/relative.sqlite"])
@pytest.mark.parametrize("command", [("init",), ("keys", "show"), ("serve",)])
def test_a_database_that_is_not_sqlite_or_postgresql_is_refused(
    tmp_path: Path, database: str, command: tuple[str, ...]
) -> None:
    message = refused(tmp_path, "--database", database, *command)
    assert f"must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB, not {database!r}" in message


def test_a_sqlite_database_in_a_missing_folder_is_refused_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "civitas.sqlite"
    message = refused(tmp_path, "init", "--database", f"sqlite:///{missing}")
    assert f"the folder {missing.parent} does not exist" in message


@pytest.mark.parametrize("suffix", ["/", ""])
def test_a_sqlite_url_that_names_a_folder_is_refused(tmp_path: Path, suffix: str) -> None:
    message = refused(tmp_path, "init", "--database", f"sqlite:///{tmp_path}{suffix}")
    assert "names a folder, not a database file" in message


@pytest.mark.parametrize("command", [("keys", "show"), ("accounts", "add", "x", "--role", "admin")])
def test_a_command_without_a_ledger_makes_no_data_folder(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    message = refused(tmp_path, *command)
    assert message.startswith(
        f"civitas: no ledger in {tmp_path / 'civitas-data'}: run `civitas init`"
    )


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_outside_0_to_65535_is_refused(tmp_path: Path, port: str) -> None:
    message = refused(tmp_path, "serve", f"--port={port}")
    assert message == f"civitas: --port must be between 0 and 65535, not {port}"


def test_a_client_ca_without_a_server_certificate_is_refused(tmp_path: Path) -> None:
    _, _, ca = CertificateAuthority().write_server_files(tmp_path)
    message = refused(tmp_path, "serve", "--client-ca", str(ca))
    assert "--client-ca needs --tls-cert and --tls-key" in message


def test_an_unreadable_certificate_is_named(tmp_path: Path) -> None:
    _, key, _ = CertificateAuthority().write_server_files(tmp_path)
    missing = tmp_path / "missing.pem"
    message = refused(tmp_path, "serve", "--tls-cert", str(missing), "--tls-key", str(key))
    assert message == f"civitas: --tls-cert {missing}: cannot read it (No such file or directory)"


def test_a_certificate_file_that_holds_no_certificate_is_named(tmp_path: Path) -> None:
    _, key, _ = CertificateAuthority().write_server_files(tmp_path)
    message = refused(tmp_path, "serve", "--tls-cert", str(key), "--tls-key", str(key))
    assert message == f"civitas: --tls-cert {key}: not a PEM certificate"


def test_a_key_file_that_holds_no_key_is_named(tmp_path: Path) -> None:
    cert, _, _ = CertificateAuthority().write_server_files(tmp_path)
    message = refused(tmp_path, "serve", "--tls-cert", str(cert), "--tls-key", str(cert))
    assert message == f"civitas: --tls-key {cert}: not a PEM private key"


def test_the_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    cert, _, _ = CertificateAuthority().write_server_files(tmp_path)
    other = tmp_path / "other.key"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    message = refused(tmp_path, "serve", "--tls-cert", str(cert), "--tls-key", str(other))
    assert message == f"civitas: --tls-key {other} is not the key of the certificate in {cert}"


def test_an_invalid_client_ca_is_named(tmp_path: Path) -> None:
    cert, key, _ = CertificateAuthority().write_server_files(tmp_path)
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    message = refused(tmp_path, "serve", *tls, "--client-ca", str(key))
    assert message == f"civitas: --client-ca {key}: not a PEM certificate"


def test_serve_help_shows_host_and_port_defaults(tmp_path: Path) -> None:
    text = " ".join(run(tmp_path, "serve", "--help").stdout.split())
    assert "--host HOST address to listen on (default: 127.0.0.1)" in text
    assert "(default: 50051)" in text


def test_global_options_work_before_and_after_the_subcommand(tmp_path: Path) -> None:
    data = tmp_path / "d"
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    made = run(tmp_path, "init", "--data-dir", str(data), "--database", database)
    assert made.returncode == 0, made.stderr
    added = run(tmp_path, "accounts", "add", "x", "--role", "auditor", "--data-dir", str(data))
    # No --database after the subcommand: the default, SQLite in the data folder, is another
    # ledger without this one's accounts, but the keys are found in `d`.
    assert added.returncode == 0, added.stderr
    shown = run(tmp_path, "--data-dir", str(data), "--database", database, "keys", "show")
    after = run(tmp_path, "keys", "show", "--data-dir", str(data), "--database", database)
    assert shown.returncode == after.returncode == 0, shown.stderr + after.stderr
    assert shown.stdout == after.stdout
    assert '"origin"' in shown.stdout
    assert not (tmp_path / "civitas-data").exists()
    # After the subcommand wins over before it, as for any option given twice.
    elsewhere = run(tmp_path, "--data-dir", "nowhere", "keys", "show", "--data-dir", str(data))
    assert elsewhere.returncode == 0, elsewhere.stderr


@pytest.mark.parametrize("target", ["localhost", "localhost:99999", ":50051", "host:port"])
def test_the_demo_refuses_a_target_that_is_not_host_port(tmp_path: Path, target: str) -> None:
    message = refused(tmp_path, "demo", "--target", target)
    assert message == f"civitas: --target must be HOST:PORT with a port 1..65535, not {target!r}"


def test_the_demo_checks_the_server_answers_before_it_makes_any_account(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    civitas(data, database, "init")
    target = f"127.0.0.1:{free_port()}"
    ledger = ("--data-dir", str(data), "--database", database)
    message = refused(tmp_path, "demo", "--target", target, *ledger)
    assert message.startswith(f"civitas: --target {target}: no server answers (UNAVAILABLE")
    node = Node(build_config(data_dir=str(data), database=database, environ={}))
    assert node.accounts.find("demo-auditor") is None
    node.close()


def test_the_demo_refuses_an_unreadable_ca_before_anything_else(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    message = refused(tmp_path, "demo", "--ca-cert", str(missing))
    assert message == f"civitas: cannot read {missing} (No such file or directory)"


def test_the_demo_refuses_an_out_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    assert (
        refused(tmp_path, "demo", "--out", "taken")
        == "civitas: --out taken is a file, not a folder"
    )


def test_a_projection_is_not_rebuilt_under_a_running_server(
    tmp_path: Path, database_url: str
) -> None:
    data, database = tmp_path / "data", database_url
    with running_server(data, database):
        done = civitas(data, database, "projections", "rebuild", "timeline", check=False)
    assert done.returncode == 1
    assert done.stderr == ("civitas: a running server owns this projection; stop it first\n")
