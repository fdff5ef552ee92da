"""The shared workload (civitas/workload.py): its record of acknowledged writes matches the
ledger exactly, which is what a crash test relies on, and its figures add up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from civitas.config import build_config
from civitas.node import Node
from civitas.server import build_server
from civitas.workload import CallRecord, WorkloadResult, WorkloadSettings, run_workload


@pytest.fixture
def served_node(tmp_path: Path) -> Iterator[tuple[Node, str, dict[str, str]]]:
    """An in-process server on a fresh SQLite ledger, with keys of two agencies."""
    config = build_config(
        data_dir=str(tmp_path / "data"), database=f"sqlite:///{tmp_path / 'c.sqlite'}", environ={}
    )
    node = Node(config)
    node.initialise("civitas.test/workload")
    node.upgrade_schema()
    keys = {
        agency: node.accounts.create(
            f"{agency}-portal", f"agency:{agency},registrar,relying-service", "service:t"
        ).api_key
        for agency in ("tax", "social")
    }
    server, _ = build_server(node)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield node, f"127.0.0.1:{port}", keys
    finally:
        server.stop(grace=None)
        node.close()


def test_every_acknowledged_write_is_in_the_ledger_exactly_once(
    served_node: tuple[Node, str, dict[str, str]],
) -> None:
    node, target, keys = served_node
    settings = WorkloadSettings(keys, clients=4, seconds=3, seed=1, mistype_rate=0.5)
    result = run_workload(settings, target)

    assert result.journeys > 0, result.summary()
    assert not result.unexpected(), result.summary()
    assert not result.anomalies
    events = Counter(
        n.topic for n in node.store.recorder.select_notifications(start=1, limit=1_000_000)
    )
    methods = Counter(write.method for write in result.writes)
    assert events["identity.Citizen.Registered"] == len(result.citizen_ids)
    assert events["identity.Citizen.PasswordSet"] == methods["SetPassword"]
    assert events["identity.Citizen.TotpEnrolled"] == methods["ConfirmTotpEnrollment"]
    assert events["identity.AuthenticationAttempt.Started"] == methods["BeginAuthentication"]
    signed_in = result.authentications()
    assert events["identity.Citizen.AuthenticationSucceeded"] == signed_in["succeeded"] > 0
    assert events["identity.Citizen.AuthenticationFailed"] == signed_in["failed"] > 0
    assert events["ledger.Transaction.Submitted"] == len(result.transactions) > 0
    assert events["ledger.DataAccess.Recorded"] == methods["GetTransaction"]
    for transaction_id, status in result.transactions.items():
        assert node.transactions.get(transaction_id).status.value == status
    for citizen_id in result.citizen_ids:
        assert not node.identity.get_citizen(citizen_id).erased


def test_the_figures_add_up() -> None:
    calls = [CallRecord("SubmitTransaction", "OK", n / 100, True) for n in range(1, 101)]
    calls.append(CallRecord("CompleteAuthentication", "UNAUTHENTICATED", 0.5, True))
    calls.append(CallRecord("StartReview", "UNAVAILABLE", 2.0, False))
    result = WorkloadResult(clients=2, seconds=4.0, calls=calls, writes=[])
    assert result.throughput == pytest.approx(102 / 4)
    assert result.latency("SubmitTransaction") == {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}
    assert result.latency()["max"] == 2.0
    assert result.unexpected() == Counter({("StartReview", "UNAVAILABLE"): 1})
    assert result.counts()[("SubmitTransaction", "OK")] == 100
    assert "unexpected StartReview UNAVAILABLE x1" in result.summary()
