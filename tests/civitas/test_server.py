"""End to end: `civitas serve` as a subprocess, spoken to over gRPC like any relying service."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from civitas.client import bearer
from ledger.checkpoint import NoteVerifier, open_checkpoint
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from tests.civitas.certificates import CertificateAuthority, Issued
from tests.civitas.server_process import add_account, civitas, running_server, status_code

AUDIT = audit_pb2_grpc.AuditServiceStub


def wait_for_checkpoint(
    stub: audit_pb2_grpc.AuditServiceStub, key: str, size: int
) -> audit_pb2.Checkpoint:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            checkpoint: audit_pb2.Checkpoint = stub.GetLatestCheckpoint(
                audit_pb2.GetLatestCheckpointRequest(), metadata=bearer(key)
            )
            if checkpoint.tree_size >= size:
                return checkpoint
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:  # no checkpoint yet: NOT_YET_SEQUENCED
                raise
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of size {size}")


def test_audit_service_end_to_end(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init", "--origin", "civitas.test/e2e")
    auditor_key = add_account(data_dir, database_url, "auditor-1", "auditor")
    agency_key = add_account(
        data_dir, database_url, "tax-portal", "agency:tax,registrar,relying-service"
    )

    with running_server(data_dir, database_url) as (port, log_path):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        audit = AUDIT(channel)
        first = wait_for_checkpoint(audit, auditor_key, 2)

        # Written by another process while the server runs: the sequencer still sees it.
        add_account(
            data_dir, database_url, "records-office", "agency:records,registrar,relying-service"
        )
        civitas(data_dir, database_url, "accounts", "revoke", "tax-portal")
        latest = wait_for_checkpoint(audit, auditor_key, 4)

        keyring = audit.GetKeyring(audit_pb2.GetKeyringRequest(), metadata=bearer(auditor_key))
        assert keyring.origin == "civitas.test/e2e"
        verifiers = [NoteVerifier(key) for key in keyring.checkpoint_keys]
        checkpoint = open_checkpoint(latest.note, verifiers)
        assert (checkpoint.size, checkpoint.root_hash) == (latest.tree_size, latest.root_hash)

        entries = list(
            audit.StreamEntries(audit_pb2.StreamEntriesRequest(), metadata=bearer(auditor_key))
        )
        assert [e.index for e in entries] == list(range(latest.tree_size))
        assert '"type":"ledger.ServiceAccount.Revoked"' in entries[3].entry
        for entry in entries:
            proof = audit.GetInclusionProof(
                audit_pb2.GetInclusionProofRequest(index=entry.index, tree_size=latest.tree_size),
                metadata=bearer(auditor_key),
            )
            assert proof.leaf_hash == leaf_hash(entry.entry.encode())
            verify_inclusion(
                proof.leaf_hash,
                entry.index,
                latest.tree_size,
                list(proof.hashes),
                latest.root_hash,
            )
        consistency = audit.GetConsistencyProof(
            audit_pb2.GetConsistencyProofRequest(from_size=first.tree_size),
            metadata=bearer(auditor_key),
        )
        verify_consistency(
            first.tree_size,
            latest.tree_size,
            list(consistency.hashes),
            first.root_hash,
            latest.root_hash,
        )

        # Caller authentication and roles.
        request = audit_pb2.GetLatestCheckpointRequest()
        assert status_code(lambda: audit.GetLatestCheckpoint(request)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert (
            status_code(
                lambda: audit.GetLatestCheckpoint(request, metadata=bearer("cvk.auditor-1.forged"))
            )
            == grpc.StatusCode.UNAUTHENTICATED
        )
        records_key = add_account(
            data_dir, database_url, "records-2", "agency:records,registrar,relying-service"
        )
        assert (
            status_code(lambda: audit.GetLatestCheckpoint(request, metadata=bearer(records_key)))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert (
            status_code(  # revoked above, by the CLI, while the server ran
                lambda: audit.GetLatestCheckpoint(request, metadata=bearer(agency_key))
            )
            == grpc.StatusCode.UNAUTHENTICATED
        )

        # Bad input: a clear status with the field named, never INTERNAL.
        with pytest.raises(grpc.RpcError) as raised:
            audit.GetInclusionProof(
                audit_pb2.GetInclusionProofRequest(index=99, tree_size=latest.tree_size),
                metadata=bearer(auditor_key),
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(raised.value)  # type: ignore[arg-type]
        assert status is not None
        bad_request = error_details_pb2.BadRequest()
        assert any(detail.Unpack(bad_request) for detail in status.details)
        assert bad_request.field_violations[0].field == "index"
        assert (
            status_code(
                lambda: audit.GetConsistencyProof(
                    audit_pb2.GetConsistencyProofRequest(from_size=1, to_size=10**9),
                    metadata=bearer(auditor_key),
                )
            )
            == grpc.StatusCode.OUT_OF_RANGE
        )

        # Health and reflection are served, without credentials.
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        services = {s.name for r in responses for s in r.list_services_response.service}
        assert "civitas.v1.AuditService" in services

        channel.close()
        log = log_path.read_text()
        assert "DEVELOPMENT MODE" in log
        assert auditor_key.rsplit(".", 1)[1] not in log


def test_serve_refuses_plaintext_off_loopback(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "civitas.cli",
            "--data-dir",
            str(tmp_path / "d"),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "only on loopback" in result.stderr


def test_a_second_server_on_a_taken_port_is_refused(tmp_path: Path) -> None:
    """gRPC would otherwise share the port and give the second server half of the calls."""
    database = f"sqlite:///{tmp_path / 'first.sqlite'}"
    with running_server(tmp_path / "first", database) as (port, _):
        second = civitas(
            tmp_path / "second",
            f"sqlite:///{tmp_path / 'second.sqlite'}",
            "serve",
            "--port",
            str(port),
            check=False,
        )
    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr


def test_callers_authenticate_by_client_certificate_under_mtls(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    api_key = add_account(data_dir, database, "auditor-tls", "auditor")
    add_account(data_dir, database, "auditor-cert", "auditor")
    ca = CertificateAuthority()
    cert, key, client_ca = ca.write_server_files(tmp_path)
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    request = audit_pb2.GetKeyringRequest()

    def stub(port: int, issued: Issued | None = None) -> audit_pb2_grpc.AuditServiceStub:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca.cert_pem,
            private_key=issued.key_pem if issued else None,
            certificate_chain=issued.cert_pem if issued else None,
        )
        return AUDIT(grpc.secure_channel(f"localhost:{port}", credentials))

    with running_server(data_dir, database, *tls, "--client-ca", str(client_ca)) as (port, log):
        client = ca.issue("auditor-cert", server=False)
        stranger = ca.issue("nobody-known", server=False)
        assert stub(port, client).GetKeyring(request).origin  # the certificate authenticates
        assert status_code(lambda: stub(port, stranger).GetKeyring(request)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert status_code(lambda: stub(port).GetKeyring(request, timeout=5)) == (
            grpc.StatusCode.UNAVAILABLE  # mutual TLS: no handshake without a certificate
        )
        assert "DEVELOPMENT MODE" not in log.read_text()

    with running_server(data_dir, database, *tls) as (port, log):
        assert stub(port).GetKeyring(request, metadata=bearer(api_key)).origin
        assert status_code(lambda: stub(port).GetKeyring(request)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )


@pytest.mark.parametrize("key_file", ["data-key-encryption.key", "national-identifier-lookup.key"])
def test_serve_refuses_a_key_file_others_can_read(tmp_path: Path, key_file: str) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    civitas(tmp_path / "data", database, "init")
    (tmp_path / "data" / "keys" / key_file).chmod(0o644)
    result = civitas(tmp_path / "data", database, "serve", "--port", "0", check=False)
    assert result.returncode != 0
    assert f"{key_file} is readable by group or others" in result.stderr
    assert "chmod 600" in result.stderr
