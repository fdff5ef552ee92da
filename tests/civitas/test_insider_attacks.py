"""Issue 15's insider attacks against a running server with one witness, on SQLite and
PostgreSQL: an insider with the database (not the keys folder) rolls the log back, deletes a
decision, fakes an erasure, edits the statistics. Each is caught: the sequencer refuses to sign
(log, metric, health), so the witness never cosigns the rewritten tree (and refuses it once an
operator re-anchors), and `civitas-verify`, with the state it kept from an earlier run and the
witness policy, fails. The operator's re-anchor is recorded and reported. An insider who holds
the keys folder too, against two witnesses (2-of-2), is tests/civitas/test_witnessing.py's.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civitas.api.roles import AUDIT_SERVICE
from protos.civitas.v1 import audit_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import transaction_pb2 as tpb
from tests.civitas.server_process import ServerProcess, civitas
from tests.civitas.test_server import wait_for_checkpoint
from tests.insider import (
    delete_entry,
    edit_statistics,
    fake_erasure,
    insider_node,
    leaf_of_type,
    roll_back,
)
from tests.verifier.test_against_writer import failed_checks, verify
from tests.verifier.test_replay import _check, _ledger, _populate, _settle
from tests.witness.witness_process import WitnessProcess, init_witness

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Witness:
    process: WitnessProcess
    vkey: str

    @property
    def policy(self) -> tuple[str, ...]:
        """civitas-verify's arguments that hold the log to this witness's cosignature."""
        return ("--witness-key", self.vkey)


@contextmanager
def witness(tmp_path: Path, data_dir: Path, database: str) -> Iterator[Witness]:
    """A `civitas-witness` process that trusts the ledger's checkpoint key."""
    with insider_node(data_dir, database) as node:
        log_key = node.checkpoint_signer().verifier_key
    vkey = init_witness(tmp_path / "witness", "witness.test/w1")
    process = WitnessProcess(tmp_path / "witness", [log_key])
    try:
        yield Witness(process, vkey)
    finally:
        process.stop()


@contextmanager
def server(data_dir: Path, database: str, cosigner: Witness | None) -> Iterator[ServerProcess]:
    cosigning = ("--witness", cosigner.process.url, cosigner.vkey) if cosigner else ()
    process = ServerProcess(data_dir, database, "--metrics-port", "0", *cosigning)
    try:
        yield process
    finally:
        process.stop()


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


def audit_health(process: ServerProcess, wanted: int, timeout: float = 60) -> int:
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


def wait_for_log(process: ServerProcess, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while text not in process.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    return process.log()


def test_a_rollback_is_refused_reported_and_re_anchored(tmp_path: Path, database_url: str) -> None:
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    state = tmp_path / "auditor-state"
    bundle_state = ("--state-dir", str(tmp_path / "bundle-state"))
    with witness(tmp_path, data_dir, database_url) as cosigner:
        with server(data_dir, database_url, cosigner) as process:
            channel = grpc.insecure_channel(process.target)
            ids = _populate(channel, tax, admin)
            audit = audit_pb2_grpc.AuditServiceStub(channel)
            earlier = _settle(audit, key)  # the checkpoint the log is rolled back to
            civitas(data_dir, database_url, "accounts", "revoke", "tax-office")
            wait_for_checkpoint(audit, key, earlier + 1)  # served once witnessed
            assert cosigner.process.cosigned_size() == earlier + 1
            code, report = live(process, key, state, *cosigner.policy)
            assert code == 0, json.dumps(report, indent=1)
            civitas(data_dir, database_url, "export", "--out", str(tmp_path / "before"))
            before = verify("bundle", str(tmp_path / "before"), *bundle_state, *cosigner.policy)
            assert before[0] == 0, json.dumps(before[1], indent=1)

        with insider_node(data_dir, database_url) as node:
            roll_back(node, earlier, keep_checkpoints=True)

        with server(data_dir, database_url, cosigner) as process:
            # The revoked agency's key works again: the database says it was never revoked...
            cases = transaction_pb2_grpc.TransactionServiceStub(
                grpc.insecure_channel(process.target)
            )
            request = tpb.GetTransactionRequest(transaction_id=ids["rejected"], purpose="appeal")
            cases.GetTransaction(request, metadata=tax)
            # ... but nothing signs the rolled-back history, and every sign says so.
            assert audit_health(process, NOT_SERVING) == NOT_SERVING
            assert halted_metric(process) == 1
            assert "REFUSING TO SIGN" in process.log()
            code, report = live(process, key, state, *cosigner.policy)
            assert code == 1
            assert "stored_checkpoint" in failed_checks(report)
            # The export holds the rolled-back log up to the auditor's earlier checkpoint,
            # witnessed then, which verifies on its own, but not against what the auditor's
            # verifier remembered.
            civitas(data_dir, database_url, "export", "--out", str(tmp_path / "after"))
            assert verify("bundle", str(tmp_path / "after"), *cosigner.policy)[0] == 0
            after = verify("bundle", str(tmp_path / "after"), *bundle_state, *cosigner.policy)
            assert after[0] == 1
            assert "stored_checkpoint" in failed_checks(after[1])

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
            assert halted_metric(process) == 0
            # The sequencer signs again, but the witness does not follow: the re-anchored tree
            # does not extend the one it cosigned. The log keeps serving the older witnessed
            # checkpoint, which the auditor's verifier refused above.
            assert "refused the checkpoint" in wait_for_log(process, "refused the checkpoint")
            assert cosigner.process.cosigned_size() == earlier + 1
            served = audit_pb2_grpc.AuditServiceStub(grpc.insecure_channel(process.target))
            assert wait_for_checkpoint(served, key, 1).tree_size == earlier

    # The operator drops the witness that can no longer follow (or its operator resets it):
    # only then is the re-anchored log served, and reported as such.
    with server(data_dir, database_url, None) as process:
        audit = audit_pb2_grpc.AuditServiceStub(grpc.insecure_channel(process.target))
        wait_for_checkpoint(audit, key, earlier + 2)  # the re-anchor event itself, signed
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
    with witness(tmp_path, data_dir, database_url) as cosigner:
        with server(data_dir, database_url, cosigner) as process:
            channel = grpc.insecure_channel(process.target)
            _populate(channel, tax, admin)
            settled = _settle(audit_pb2_grpc.AuditServiceStub(channel), key)
            assert cosigner.process.cosigned_size() == settled
            assert live(process, key, state, *cosigner.policy)[0] == 0

        with insider_node(data_dir, database_url) as node:
            rejected, _ = leaf_of_type(node, "ledger.Transaction.Rejected")
            delete_entry(node, rejected)

        with server(data_dir, database_url, cosigner) as process:
            assert audit_health(process, NOT_SERVING) == NOT_SERVING
            assert "does not extend" in process.log() or "rolled back" in process.log()
            code, report = live(process, key, state, *cosigner.policy)
            assert code == 1
            assert "stored_checkpoint" in failed_checks(report)
            # Nothing signed, nothing sent: the witness still holds the tree with the decision.
            assert cosigner.process.cosigned_size() == settled
            # Nor is there a bundle to hand an auditor: every checkpoint went with the tree.
            export = civitas(
                data_dir, database_url, "export", "--out", str(tmp_path / "b"), check=False
            )
            assert export.returncode != 0
            assert "no checkpoint has been signed yet" in export.stderr


def test_a_faked_erasure_and_edited_statistics_are_caught(
    tmp_path: Path, database_url: str
) -> None:
    """Neither changes the tree (an erasure keeps every hash, and the statistics are a read
    model outside the log), so the sequencer and the witness have nothing to refuse: the
    witnessed checkpoint stays valid and only the verifier, judging what the tree holds, can
    tell. It does, live (replaying the statistics) and in a bundle."""
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    state = tmp_path / "state"
    with (
        witness(tmp_path, data_dir, database_url) as cosigner,
        server(data_dir, database_url, cosigner) as process,
    ):
        channel = grpc.insecure_channel(process.target)
        ids = _populate(channel, tax, admin)
        _settle(audit_pb2_grpc.AuditServiceStub(channel), key)
        replay = ("--replay", *cosigner.policy)
        code, report = live(process, key, state, *replay)
        assert code == 0, json.dumps(report, indent=1)

        with insider_node(data_dir, database_url) as node:
            edit_statistics(node)
        code, report = live(process, key, state, *replay)
        assert code == 1
        assert failed_checks(report) == {"replay_statistics"}
        reasons = [failure["reason"] for failure in _check(report, "replay_statistics")["failures"]]
        assert any("served 6, replay 1" in reason for reason in reasons), reasons
        assert any(reason.startswith("decided_at: served") for reason in reasons), reasons

        with insider_node(data_dir, database_url) as node:
            assert fake_erasure(node, ids["rejected"]) == 3  # submitted, review, rejected
        code, report = live(process, key, state, *cosigner.policy)
        assert code == 1
        assert failed_checks(report) == {"erasure"}

    bundle = tmp_path / "bundle"
    civitas(data_dir, database_url, "export", "--out", str(bundle))
    code, report = verify("bundle", str(bundle), *cosigner.policy)
    assert code == 1
    assert failed_checks(report) == {"erasure"}
