"""The typed client: its TOTP app's time steps, and the client over mTLS against a real server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pyotp
import pytest

from civitas.audit_export import download_bundle
from civitas.client import CivitasClient, ClientTls, activation, channel_for, describe_error
from civitas.totp_app import TOTP_STEP_SECONDS, TotpApp
from tests.civitas.certificates import CertificateAuthority
from tests.civitas.ledger_checks import open_node, wait_until_sequenced
from tests.civitas.server_process import add_account, civitas, running_server

URI = "otpauth://totp/civitas:someone?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=civitas"
PASSWORD = "a long and unusual passphrase"


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_totp_app_spends_each_step_once_and_waits_only_beyond_the_window() -> None:
    fake = FakeTime(1_000_000 * TOTP_STEP_SECONDS + 7)
    app = TotpApp(URI, "authenticator-1", clock=fake.clock, sleep=fake.sleep)
    reference = pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    step = 1_000_000
    assert app.next_code() == reference.at(step * TOTP_STEP_SECONDS)
    # The current step is spent: the next step's code, which the server's window accepts.
    assert app.next_code() == reference.at((step + 1) * TOTP_STEP_SECONDS)
    assert fake.slept == []
    # Both spent: wait until the clock reaches the step before the next one, no longer.
    assert app.next_code() == reference.at((step + 2) * TOTP_STEP_SECONDS)
    assert fake.slept == [TOTP_STEP_SECONDS - 7]
    assert int(fake.now) // TOTP_STEP_SECONDS == step + 1
    assert app.last_step == step + 2


def test_the_totp_app_refuses_what_is_not_a_totp_uri() -> None:
    with pytest.raises(ValueError, match="totp"):
        TotpApp(URI.replace("totp", "hotp", 1) + "&counter=0", "a")


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="go together"):
        ClientTls(Path("ca.pem"), client_cert=Path("client.pem"))


def test_the_client_over_mutual_tls(tmp_path: Path) -> None:
    """An agency authenticated by its certificate alone (no API key), an auditor by key; the
    AuditService bundle is byte for byte what `civitas export` writes."""
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    add_account(data_dir, database, "portal", "agency:building,registrar,relying-service")
    auditor_key = add_account(data_dir, database, "auditor-1", "auditor")
    ca = CertificateAuthority()
    server_cert, server_key, ca_file = ca.write_server_files(tmp_path)
    issued = ca.issue("portal", server=False)
    (tmp_path / "portal.pem").write_bytes(issued.cert_pem)
    (tmp_path / "portal.key").write_bytes(issued.key_pem)
    tls = ClientTls(ca_file, tmp_path / "portal.pem", tmp_path / "portal.key")
    serve_args = ("--tls-cert", str(server_cert), "--tls-key", str(server_key))
    with (
        running_server(data_dir, database, *serve_args, "--client-ca", str(ca_file)) as (port, _),
        channel_for(f"localhost:{port}", tls) as channel,
    ):
        agency = CivitasClient(channel, api_key=None)
        registered = agency.register({"national_identifier": "TLS-1"}, "IAL1")
        citizen, code = registered.citizen_id, activation(registered.activation_code)
        agency.set_password(citizen, PASSWORD, proof=code)
        result = agency.authenticate_password(citizen, PASSWORD)
        assert (result.acr, list(result.amr)) == ("AAL1", ["pwd"])
        assert agency.introspect(result.token).citizen_id == citizen

        with pytest.raises(grpc.RpcError) as refused:
            agency.set_password(citizen, "short", proof=code)  # refused before the proof
        assert describe_error(refused.value).startswith("INVALID_ARGUMENT: ")
        assert "password" in describe_error(refused.value)

        auditor = CivitasClient(channel, auditor_key)
        with pytest.raises(grpc.RpcError) as denied:
            auditor.register_citizen({"national_identifier": "TLS-2"})
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        node = open_node(data_dir, database)
        try:
            size = wait_until_sequenced(node)
        finally:
            node.close()
        download_bundle(auditor, tmp_path / "over-api")
        civitas(data_dir, database, "export", "--out", str(tmp_path / "from-disk"))
        for name in ("entries.jsonl", "keyring.json", f"checkpoints/{size}.txt"):
            assert (tmp_path / "over-api" / name).read_bytes() == (
                tmp_path / "from-disk" / name
            ).read_bytes(), name
