"""Live mode against a fake AuditService: the client path, credentials, and a lying server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import grpc
import pytest

from tests.verifier.bundle_factory import Log, make_log
from tests.verifier.fake_audit_service import API_KEY, FakeAuditService, Misbehaviour, serving
from tests.verifier.tls import make_pki
from verifier.cli import main
from verifier.live import Connection, LiveError, verify_live
from verifier.report import Report, to_json
from verifier.trust import Pins


def _verify(
    service: FakeAuditService,
    *,
    trusted: str | None = None,
    jobs: int = 1,
    pins: Pins | None = None,
    chunk_records: int = 4096,
) -> Report:
    with serving(service) as target:
        connection = Connection(target, api_key=API_KEY)
        report = verify_live(
            connection,
            pins=pins or Pins(),
            trusted_checkpoint=trusted,
            jobs=jobs,
            chunk_records=chunk_records,
        )
    report.subject = "fake AuditService"  # the port changes from server to server
    return report


def _failed(report: Report) -> set[str]:
    return set(report.failed_checks())


def test_an_honest_server_passes(log: Log) -> None:
    report = _verify(FakeAuditService(log), trusted=log.checkpoint(20))
    assert report.ok, to_json(report)
    assert report.entries == 40
    assert report.checks["consistency_proof"].checked == 1
    assert report.erased_indices == [3, 11]


def test_worker_processes_give_the_same_report(log: Log) -> None:
    alone = _verify(FakeAuditService(log))
    pooled = _verify(FakeAuditService(log), jobs=2, chunk_records=7)
    assert to_json(pooled) == to_json(alone)


def test_a_wrong_api_key_is_an_io_error(log: Log) -> None:
    with (
        serving(FakeAuditService(log)) as target,
        pytest.raises(LiveError, match="UNAUTHENTICATED"),
    ):
        verify_live(Connection(target, api_key="wrong"), pins=Pins())


def test_an_omitted_entry_is_detected(log: Log) -> None:
    report = _verify(FakeAuditService(log, Misbehaviour(omit=frozenset({17}))))
    assert {"entry_count", "index", "checkpoint_root"} <= _failed(report)


def test_entries_beyond_the_checkpoint_are_detected(log: Log) -> None:
    service = FakeAuditService(log, Misbehaviour(checkpoint_size=30, extra=5))
    assert _failed(_verify(service)) == {"entry_count"}


def test_a_rolled_back_server_fails_against_the_trusted_checkpoint(log: Log) -> None:
    trusted = log.checkpoint(40)
    service = FakeAuditService(log, Misbehaviour(checkpoint_size=33))
    assert _failed(_verify(service, trusted=trusted)) == {"consistency_proof", "trusted_checkpoint"}


def test_a_forked_server_fails_the_consistency_proof(log: Log) -> None:
    trusted = log.checkpoint(20, root=hashlib.sha256(b"the auditor saw another tree").digest())
    report = _verify(FakeAuditService(log), trusted=trusted)
    assert _failed(report) == {"consistency_proof", "trusted_checkpoint"}


def test_a_forged_consistency_proof_fails(log: Log) -> None:
    report = _verify(
        FakeAuditService(log, Misbehaviour(forged_proof=True)), trusted=log.checkpoint(20)
    )
    assert _failed(report) == {"consistency_proof"}


def test_a_keyring_json_that_disagrees_with_its_fields_fails(log: Log) -> None:
    other = make_log(4, 1, key_label="other").keyring()
    service = FakeAuditService(log, Misbehaviour(keyring_json=json.dumps(other)))
    assert _failed(_verify(service)) == {"keyring"}


def test_pinning_another_logs_key_fails(log: Log) -> None:
    other = make_log(4, 1, key_label="other").checkpoint_key.vkey
    report = _verify(FakeAuditService(log), pins=Pins(checkpoint_keys=(other,)))
    assert _failed(report) == {"checkpoint_signature"}


def test_the_cli_over_mutual_tls(log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    authority, server, client = make_pki()
    for name, data in [
        ("ca.pem", authority.certificate),
        ("client.pem", client.certificate),
        ("client.key", client.key),
    ]:
        (tmp_path / name).write_bytes(data)
    credentials = grpc.ssl_server_credentials(
        [(server.key, server.certificate)],
        root_certificates=authority.certificate,
        require_client_auth=True,
    )
    monkeypatch.setenv("CIVITAS_API_KEY", API_KEY)
    tls = ["--ca-cert", str(tmp_path / "ca.pem")]
    mtls = [
        *tls,
        "--client-cert",
        str(tmp_path / "client.pem"),
        "--client-key",
        str(tmp_path / "client.key"),
    ]
    with serving(FakeAuditService(log), credentials) as target:
        assert main(["live", "--target", target, "--jobs", "1", *mtls]) == 0
        assert main(["live", "--target", target, "--jobs", "1", *tls]) == 2  # no client cert
        assert main(["live", "--target", target, "--jobs", "1"]) == 2  # plaintext to a TLS port
