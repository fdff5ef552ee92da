"""Issue 15's insider attacks against a running server, on SQLite and PostgreSQL: an insider with
the database (not the keys folder) rolls the log back, deletes a decision, fakes an erasure.
Each is caught: the sequencer refuses to sign (log, metric, health), and `civitas-verify`, with
the state it kept from an earlier run, fails. The operator's re-anchor is recorded and reported.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civitas.api.roles import AUDIT_SERVICE
from civitas.config import build_config
from civitas.node import Node
from protos.civitas.v1 import audit_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import transaction_pb2 as tpb
from tests.civitas.server_process import ServerProcess, civitas
from tests.civitas.test_server import wait_for_checkpoint
from tests.ledger.insider import delete_leaf, fake_erasure, leaf_of_type, roll_back
from tests.verifier.test_against_writer import failed_checks, verify
from tests.verifier.test_replay import _check, _ledger, _populate, _settle

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@contextmanager
def server(data_dir: Path, database: str) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, database, "--metrics-port", "0")
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def offline_node(data_dir: Path, database: str) -> Iterator[Node]:
    """The database as the insider opens it, with the server stopped."""
    node = Node(build_config(data_dir=str(data_dir), database=database, environ={}))
    try:
        yield node
    finally:
        node.close()


def live(process: ServerProcess, key: str, state: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    return verify(
        "live",
        "--target",
        process.target,
        "--jobs",
        "1",
        "--state-dir",
        str(state),
        *extra,
        env={"CIVITAS_API_KEY": key},
    )


def audit_health(process: ServerProcess, wanted: int, timeout: float = 15) -> int:
    """The AuditService's health once it is `wanted` (or the last seen, after `timeout`)."""
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(process.target))
    deadline = time.monotonic() + timeout
    while True:
        status: int = stub.Check(health_pb2.HealthCheckRequest(service=AUDIT_SERVICE)).status
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def halted_metric(process: ServerProcess) -> float:
    port = re.search(r"civitas metrics on http://[^:]+:(\d+)/metrics", process.log())
    assert port is not None, process.log()
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=5) as page:
        text = page.read().decode()
    value = re.search(r"^civitas_sequencer_signing_halted (\S+)$", text, re.MULTILINE)
    assert value is not None, text
    return float(value.group(1))


def notes(report: dict[str, Any]) -> list[str]:
    found: list[str] = report["notes"]
    return found


def test_a_rollback_is_refused_reported_and_re_anchored(tmp_path: Path, database_url: str) -> None:
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    state = tmp_path / "auditor-state"
    with server(data_dir, database_url) as process:
        channel = grpc.insecure_channel(process.target)
        ids = _populate(channel, tax, admin)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        earlier = _settle(audit, key)  # the checkpoint the log is rolled back to
        civitas(data_dir, database_url, "accounts", "revoke", "tax-office")
        wait_for_checkpoint(audit, key, earlier + 1)
        code, report = live(process, key, state)
        assert code == 0, json.dumps(report, indent=1)
        bundle_state = ("--state-dir", str(tmp_path / "bundle-state"))
        civitas(data_dir, database_url, "export", "--out", str(tmp_path / "before"))
        assert verify("bundle", str(tmp_path / "before"), *bundle_state)[0] == 0

    with offline_node(data_dir, database_url) as node:
        roll_back(node, earlier, keep_checkpoints=True)

    with server(data_dir, database_url) as process:
        # The revoked agency's key works again: the database says it was never revoked...
        cases = transaction_pb2_grpc.TransactionServiceStub(grpc.insecure_channel(process.target))
        request = tpb.GetTransactionRequest(transaction_id=ids["rejected"], purpose="appeal")
        cases.GetTransaction(request, metadata=tax)
        # ... but nothing signs the rolled-back history, and every sign says so.
        assert audit_health(process, NOT_SERVING) == NOT_SERVING
        assert halted_metric(process) == 1
        assert "REFUSING TO SIGN" in process.log()
        code, report = live(process, key, state)
        assert code == 1
        assert "stored_checkpoint" in failed_checks(report)
        # The export holds the rolled-back log up to the auditor's earlier checkpoint, which
        # verifies on its own, but not against what the auditor's verifier remembered.
        civitas(data_dir, database_url, "export", "--out", str(tmp_path / "after"))
        assert verify("bundle", str(tmp_path / "after"))[0] == 0
        code, report = verify("bundle", str(tmp_path / "after"), *bundle_state)
        assert code == 1
        assert "stored_checkpoint" in failed_checks(report)

        re_anchor = civitas(
            data_dir,
            database_url,
            *("ledger", "re-anchor", "--reason", "restored from backup"),
            check=False,
        )
        assert re_anchor.returncode == 0, re_anchor.stderr
        # The rolled-back log and the read made since (recorded as a data access).
        assert f"signed the tree of {earlier + 1:,} entries" in re_anchor.stdout
        assert audit_health(process, SERVING) == SERVING
        wait_for_checkpoint(
            audit_pb2_grpc.AuditServiceStub(grpc.insecure_channel(process.target)),
            key,
            earlier + 2,  # the re-anchor event itself, signed
        )
        assert halted_metric(process) == 0
        code, report = live(process, key, state)  # still not silently accepted ...
        assert code == 1
        assert "stored_checkpoint" in failed_checks(report)
        assert any(
            "RE-ANCHORED" in note and "restored from backup" in note for note in notes(report)
        )
        code, report = live(process, key, state, "--forget-state")  # ... until the auditor agrees
        assert code == 0, json.dumps(report, indent=1)
        assert any("RE-ANCHORED" in note for note in notes(report))


def test_a_deleted_decision_is_refused_and_caught(tmp_path: Path, database_url: str) -> None:
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    state = tmp_path / "auditor-state"
    with server(data_dir, database_url) as process:
        channel = grpc.insecure_channel(process.target)
        _populate(channel, tax, admin)
        _settle(audit_pb2_grpc.AuditServiceStub(channel), key)
        assert live(process, key, state)[0] == 0

    with offline_node(data_dir, database_url) as node:
        rejected, _ = leaf_of_type(node, "ledger.Transaction.Rejected")
        delete_leaf(node, rejected)

    with server(data_dir, database_url) as process:
        assert audit_health(process, NOT_SERVING) == NOT_SERVING
        assert "does not extend" in process.log() or "rolled back" in process.log()
        code, report = live(process, key, state)
        assert code == 1
        assert "stored_checkpoint" in failed_checks(report)


def test_a_faked_erasure_of_a_case_is_caught_live_and_in_a_bundle(
    tmp_path: Path, database_url: str
) -> None:
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    with server(data_dir, database_url) as process:
        channel = grpc.insecure_channel(process.target)
        ids = _populate(channel, tax, admin)
        _settle(audit_pb2_grpc.AuditServiceStub(channel), key)
        with offline_node(data_dir, database_url) as node:
            assert fake_erasure(node, ids["rejected"]) == 3  # submitted, review, rejected
        code, report = live(process, key, tmp_path / "state")
        assert code == 1
        assert failed_checks(report) == {"erasure"}

    bundle = tmp_path / "bundle"
    civitas(data_dir, database_url, "export", "--out", str(bundle))
    code, report = verify("bundle", str(bundle))
    assert code == 1
    assert failed_checks(report) == {"erasure"}


def test_edited_statistics_are_caught(tmp_path: Path, database_url: str) -> None:
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    with server(data_dir, database_url) as process:
        channel = grpc.insecure_channel(process.target)
        _populate(channel, tax, admin)
        _settle(audit_pb2_grpc.AuditServiceStub(channel), key)
        replay = ("--replay", "--no-state")
        code, report = verify("live", "--target", process.target, *replay, env=_key(key))
        assert code == 0, json.dumps(report, indent=1)
        with offline_node(data_dir, database_url) as node:
            edit_statistics(node)
        code, report = verify("live", "--target", process.target, *replay, env=_key(key))
    assert code == 1
    assert failed_checks(report) == {"replay_statistics"}
    reasons = [failure["reason"] for failure in _check(report, "replay_statistics")["failures"]]
    assert any("served 6, replay 1" in reason for reason in reasons), reasons
    assert any(reason.startswith("decided_at: served") for reason in reasons), reasons


def _key(key: str) -> dict[str, str]:
    return {"CIVITAS_API_KEY": key}


def edit_statistics(node: Node) -> None:
    """Flatter the figures: more successful password sign-ins, a case decided at once."""
    view = node.statistics_view
    with view.datastore.transaction(commit=True) as c:
        c.execute(
            view.sql(
                "UPDATE {stats_auth_daily} SET count = count + 5 "
                "WHERE method = 'password' AND outcome = 'failure'"
            )
        )
        c.execute(
            view.sql(
                "UPDATE {stats_cases} SET decided_at = submitted_at WHERE transaction_id = "
                "(SELECT MIN(transaction_id) FROM {stats_cases} WHERE decided_at IS NOT NULL)"
            )
        )
