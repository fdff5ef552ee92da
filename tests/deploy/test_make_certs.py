"""deploy/make-certs.sh: a chain openssl accepts, and one `civitas serve` speaks mutual TLS with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from tests.civitas.server_process import add_account, civitas, running_server, status_code
from tests.conftest import REPO_ROOT

MAKE_CERTS = REPO_ROOT / "deploy" / "make-certs.sh"


def make_certs(out: Path, *names: str, clients: str = "", check: bool = True) -> str:
    result = subprocess.run(
        ["sh", str(MAKE_CERTS), str(out), *names],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        env={**os.environ, "CIVITAS_CLIENTS": clients},
    )
    return result.stdout + result.stderr


def openssl(*args: str) -> str:
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deploy") / "certs"
    make_certs(out, "civitas.example.gov", "10.0.0.7", clients="admin tax-portal")
    return out


def test_openssl_verifies_each_certificate_for_its_purpose(certs: Path) -> None:
    ca = str(certs / "ca.pem")
    server = str(certs / "server" / "server.pem")
    clients = [
        str(certs / "admin.pem"),
        str(certs / "tax-portal.pem"),
        str(certs / "server" / "healthcheck.pem"),
    ]
    assert openssl("verify", "-CAfile", ca, "-purpose", "sslserver", server) == f"{server}: OK\n"
    for client in clients:
        assert openssl("verify", "-CAfile", ca, "-purpose", "sslclient", client) == (
            f"{client}: OK\n"
        )
    # A client certificate cannot pose as a server.
    refused = subprocess.run(
        ["openssl", "verify", "-CAfile", ca, "-purpose", "sslserver", clients[0]],
        capture_output=True,
        check=False,
    )
    assert refused.returncode != 0


def test_the_server_certificate_names_every_way_it_is_reached(certs: Path) -> None:
    text = openssl("x509", "-in", str(certs / "server" / "server.pem"), "-noout", "-text")
    for name in (
        "DNS:civitas-1",
        "DNS:civitas-2",
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "DNS:civitas.example.gov",
        "IP Address:10.0.0.7",
    ):
        assert name in text
    for account in ("admin", "tax-portal"):
        subject = openssl("x509", "-in", str(certs / f"{account}.pem"), "-noout", "-subject")
        assert subject.strip().endswith(f"CN = {account}")


def test_secrets_stay_with_the_operator_and_the_containers_get_only_theirs(certs: Path) -> None:
    assert certs.stat().st_mode & 0o777 == 0o700
    assert (certs / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (certs / "admin.key").stat().st_mode & 0o777 == 0o600
    assert (certs / "tax-portal.key").stat().st_mode & 0o777 == 0o600
    mounted = {path.name for path in (certs / "server").iterdir()}
    assert mounted == {"ca.pem", "server.pem", "server.key", "healthcheck.pem", "healthcheck.key"}


@pytest.mark.parametrize("client", ["ca", "civitas-healthcheck", "Tax_Portal", "-x"])
def test_names_that_are_no_account_or_would_overwrite_a_key_are_refused(
    tmp_path: Path, client: str
) -> None:
    output = make_certs(tmp_path / "certs", clients=f"admin {client}", check=False)
    assert client in output
    assert not (tmp_path / "certs").exists()


def test_running_it_again_renews_the_certificates_under_the_same_ca(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    make_certs(out)
    ca, server = (out / "ca.pem").read_bytes(), (out / "server" / "server.pem").read_bytes()
    assert "using the existing CA" in make_certs(out)
    assert (out / "ca.pem").read_bytes() == ca
    assert (out / "server" / "server.pem").read_bytes() != server
    openssl("verify", "-CAfile", str(out / "ca.pem"), str(out / "server" / "server.pem"))


def test_civitas_serves_mutual_tls_with_them(certs: Path, tmp_path: Path) -> None:
    data_dir, database = tmp_path / "data", f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    civitas(data_dir, database, "db", "upgrade")
    add_account(data_dir, database, "admin", "admin")
    mounted = certs / "server"  # what the containers see as /etc/civitas/tls
    tls = ["--tls-cert", str(mounted / "server.pem"), "--tls-key", str(mounted / "server.key")]
    with running_server(data_dir, database, *tls, "--client-ca", str(mounted / "ca.pem")) as (
        port,
        _,
    ):
        probe = subprocess.run(
            [
                sys.executable,
                "-m",
                "civitas.healthcheck",
                "--target",
                f"localhost:{port}",
                "--ca",
                str(mounted / "ca.pem"),
                "--cert",
                str(mounted / "healthcheck.pem"),
                "--key",
                str(mounted / "healthcheck.key"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert probe.returncode == 0, probe.stderr

        def audit(client: str) -> audit_pb2_grpc.AuditServiceStub:
            folder = certs if client == "admin" else mounted
            credentials = grpc.ssl_channel_credentials(
                root_certificates=(certs / "ca.pem").read_bytes(),
                private_key=(folder / f"{client}.key").read_bytes(),
                certificate_chain=(folder / f"{client}.pem").read_bytes(),
            )
            return audit_pb2_grpc.AuditServiceStub(
                grpc.secure_channel(f"localhost:{port}", credentials)
            )

        request = audit_pb2.GetKeyringRequest()
        # The operator's certificate is the account "admin"; the probe's opens nothing but health.
        assert audit("admin").GetKeyring(request, timeout=10).origin
        assert status_code(lambda: audit("healthcheck").GetKeyring(request, timeout=10)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
