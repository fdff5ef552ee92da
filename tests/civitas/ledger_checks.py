"""What must hold after a crash or an outage, checked from the database the servers wrote."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import psycopg

from civitas.config import build_config
from civitas.node import Node
from civitas.workload import WorkloadResult
from projections.registry import PROJECTIONS
from tests.civitas.server_process import civitas

# The event each acknowledged write must have stored exactly once in its aggregate's stream.
EVENT_OF_WRITE = {
    "RegisterCitizen": "identity.Citizen.Registered",
    "SubmitTransaction": "ledger.Transaction.Submitted",
    "StartReview": "ledger.Transaction.ReviewStarted",
    "RequestInformation": "ledger.Transaction.InformationRequested",
    "ProvideInformation": "ledger.Transaction.InformationProvided",
    "ResumeReview": "ledger.Transaction.ReviewResumed",
    "ApproveTransaction": "ledger.Transaction.Approved",
    "RejectTransaction": "ledger.Transaction.Rejected",
    "CompleteTransaction": "ledger.Transaction.Completed",
    "WithdrawTransaction": "ledger.Transaction.Withdrawn",
}


def open_node(data_dir: Path, database: str) -> Node:
    return Node(build_config(data_dir=str(data_dir), database=database, environ={}))


def wait_until_sequenced(node: Node, timeout: float = 30.0) -> int:
    """Wait until a signed checkpoint covers every event written; returns the tree size.
    (Notification ids have gaps where a transaction rolled back, so the sequencer's position,
    not a count, says it has seen everything.)"""
    target = node.store.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    while True:
        position = node.log_view.max_tracking_id("ledger") or 0
        leaves = node.log_view.tree_size()
        signed = node.log_view.latest_checkpoint()  # None until the first is signed
        checkpoint = signed.tree_size if signed else -1
        if position >= target and checkpoint == leaves:
            return checkpoint
        if time.monotonic() > deadline:
            raise AssertionError(
                f"sequencer at {position} of {target}; checkpoint {checkpoint} of {leaves} leaves"
            )
        time.sleep(0.2)


def wait_until_projected(node: Node, timeout: float = 30.0) -> None:
    target = node.store.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    for name in PROJECTIONS:
        view = node.projection_view(name)
        while (view.max_tracking_id("ledger") or 0) < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"projection {name} did not catch up to {target}")
            time.sleep(0.2)


def assert_acknowledged_writes_exactly_once(node: Node, result: WorkloadResult) -> int:
    """Every acknowledged write's event is in its stream exactly once; returns how many were
    checked. (A write the client never heard back about may or may not be there: both are
    correct, and the verifier checks that nothing is there twice.)"""
    acknowledged = {
        (write.method, write.aggregate_id)
        for write in result.writes
        if write.method in EVENT_OF_WRITE
    }
    assert acknowledged, "the workload had no acknowledged writes to check"
    streams: dict[str, Counter[str]] = {}
    for _, aggregate_id in acknowledged:
        if aggregate_id not in streams:
            events = node.store.recorder.select_events(UUID(aggregate_id))
            streams[aggregate_id] = Counter(event.topic for event in events)
    missing = [
        (method, aggregate_id, streams[aggregate_id][EVENT_OF_WRITE[method]])
        for method, aggregate_id in acknowledged
        if streams[aggregate_id][EVENT_OF_WRITE[method]] != 1
    ]
    assert not missing, f"acknowledged writes not stored exactly once: {missing[:10]}"
    return len(acknowledged)


def assert_bundle_verifies(data_dir: Path, database: str, out: Path) -> str:
    """Export the ledger with the writer's CLI and check it with the independent verifier."""
    civitas(data_dir, database, "export", "--out", str(out))
    verified = subprocess.run(
        [sys.executable, "-m", "verifier", "bundle", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return verified.stdout


def projection_rows(database: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every projection table (PostgreSQL), in a stable order."""
    schema = database.split("schema=", 1)[1]
    tables = {
        "timeline",
        "timeline_links",
        "transaction_queue",
        "stats_auth_daily",
        "stats_cases",
    }
    rows: dict[str, list[tuple[object, ...]]] = {}
    with psycopg.connect(database.split("?", 1)[0]) as connection:
        present = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
        missing = tables - present
        assert not missing, f"no such projection tables: {missing} (have {sorted(present)})"
        for table in sorted(tables):
            query = psycopg.sql.SQL("SELECT * FROM {}.{}").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
            )
            rows[table] = sorted(connection.execute(query).fetchall(), key=repr)
    return rows


def assert_projections_equal_a_rebuild(data_dir: Path, database: str) -> None:
    """Servers stopped: what the projections hold equals a replay of the log from zero."""
    served = projection_rows(database)
    for name in PROJECTIONS:
        civitas(data_dir, database, "projections", "rebuild", name)
    rebuilt = projection_rows(database)
    for table, rows in served.items():
        assert rows == rebuilt[table], f"projection table {table} differs from a rebuild"
