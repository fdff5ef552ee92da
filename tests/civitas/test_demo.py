"""`civitas demo` against a real server, run as a newcomer would run it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.civitas.certificates import CertificateAuthority
from tests.civitas.server_process import add_account, civitas_command, running_server

HEADINGS = [
    "Register a citizen",
    "Set a password",
    "Enrol TOTP (an authenticator app)",
    "Enrol a passkey (software authenticator)",
    "Authenticate with password and TOTP",
    "Authenticate with the passkey",
    "Refresh the session, then use the new token",
    "Submit a permit application",
    "Review and approve the permit",
    "The citizen's history, with their own token",
    "A receipt, verified offline",
    "Export the ledger over the AuditService",
    "Verify the export with civitas-verify",
]


def demo(data_dir: Path, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        civitas_command(data_dir, database, "demo", *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_demo_walks_every_step_and_the_verifier_passes(
    tmp_path: Path, database_url: str
) -> None:
    database = database_url
    data_dir = tmp_path / "data"
    subprocess.run(civitas_command(data_dir, database, "init"), check=True, capture_output=True)
    with running_server(data_dir, database) as (port, log_path):
        target = ("--target", f"127.0.0.1:{port}")
        first = demo(data_dir, database, *target)
        assert first.returncode == 0, first.stdout + first.stderr
        output = first.stdout
        assert "service account demo-building (agency:building) created" in output
        assert "service account demo-auditor (auditor) created" in output
        for number, heading in enumerate(HEADINGS, 1):
            assert f"[{number}/{len(HEADINGS)}] {heading}\n" in output
        assert "otpauth://totp/" in output
        assert output.count("signed in at AAL2") == 2  # TOTP + password, and the passkey
        assert "methods swk, user, pin, mfa" in output  # an unattested software passkey
        assert "signed in at AAL3" not in output
        assert "SUBMITTED → IN_REVIEW → APPROVED" in output
        assert "ledger.Transaction.Approved" in output
        # The receipt's and the bundle's independent checks.
        assert output.count("RESULT: all checks passed") == 2
        assert "checkpoint key pinned" in output
        assert "continues with a new token until" in output
        assert "the old one is refused as 'rotated'" in output
        assert "All 13 steps passed" in output

        # Again, keeping the files: the demo accounts get new keys, the old ones are never shown.
        kept = tmp_path / "kept"
        second = demo(data_dir, database, *target, "--out", str(kept))
        assert second.returncode == 0, second.stdout + second.stderr
        assert "service account demo-building (agency:building) given a new key" in second.stdout
        assert json.loads((kept / "receipt.json").read_text())["checkpoint"]
        assert (kept / "bundle" / "entries.jsonl").read_text().count("\n") > 40
        for line in second.stdout.splitlines():
            assert "cvk." not in line  # no API key is printed
        assert "cvk." not in log_path.read_text()


def test_the_whole_identity_flow_runs_over_mutual_tls(tmp_path: Path) -> None:
    """Register, password, TOTP, passkey, sign-ins, history, receipt and audit, all on a
    channel where the server demands a client certificate made by this test's own CA."""
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    subprocess.run(civitas_command(data_dir, database, "init"), check=True, capture_output=True)
    ca = CertificateAuthority()
    server_cert, server_key, ca_file = ca.write_server_files(tmp_path)
    client = ca.issue("demo-building", server=False)
    (tmp_path / "client.pem").write_bytes(client.cert_pem)
    (tmp_path / "client.key").write_bytes(client.key_pem)
    tls = ("--tls-cert", str(server_cert), "--tls-key", str(server_key))
    with running_server(data_dir, database, *tls, "--client-ca", str(ca_file)) as (port, log):
        client_tls = ("--ca-cert", str(ca_file), "--client-cert", str(tmp_path / "client.pem"))
        run = demo(
            data_dir,
            database,
            "--target",
            f"localhost:{port}",
            *client_tls,
            "--client-key",
            str(tmp_path / "client.key"),
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "All 13 steps passed" in run.stdout
        assert "DEVELOPMENT MODE" not in log.read_text()


def test_a_failing_step_is_named_and_the_exit_status_says_so(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    subprocess.run(civitas_command(data_dir, database, "init"), check=True, capture_output=True)
    # The agency of the tax office may not act on building permits.
    tax_key = add_account(data_dir, database, "tax-office", "agency:tax")
    auditor_key = add_account(data_dir, database, "auditor-1", "auditor")
    with running_server(data_dir, database) as (port, _):
        keys = ("--agency-key", tax_key, "--auditor-key", auditor_key)
        refused = demo(data_dir, database, "--target", f"127.0.0.1:{port}", *keys)
        assert refused.returncode == 1
        assert "[7/13] Refresh the session, then use the new token" in refused.stdout
        assert "step 8 (Submit a permit application) failed: PERMISSION_DENIED" in refused.stderr
        assert "[9/13]" not in refused.stdout

        unknown = demo(data_dir, database, "--target", f"127.0.0.1:{port}", "--service", "no.such")
        assert unknown.returncode == 2
        assert "not in the service catalogue" in unknown.stderr


pytestmark = pytest.mark.timeout(120)
