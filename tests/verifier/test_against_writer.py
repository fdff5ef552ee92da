"""The independent verifier against the real writer: its exports, its database, its server.

The verifier shares no code with the writer; these tests are where the two meet, so a
disagreement between them about any format shows up here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from civitas.config import build_config
from civitas.node import Node, utc_now
from protos.civitas.v1.audit_pb2_grpc import AuditServiceStub
from tests.civitas.server_process import add_account, civitas, running_server
from tests.civitas.test_server import wait_for_checkpoint


def verify(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "verifier", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return result.returncode, report


def failed_checks(report: dict[str, object]) -> set[str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {check["name"] for check in checks if check["status"] == "failed"}


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[Path, str]:
    """A real ledger on SQLite with a few accounts, changes and a key rotation."""
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    node = Node(build_config(data_dir=str(data_dir), database=database, environ={}))
    node.initialise("civitas.test/audit")
    node.upgrade_schema()
    for name in ("alpha", "beta", "gamma"):
        node.accounts.create(name, "agency:tax", actor="cli:test")
    node.keys.rotate_entry_key(utc_now())
    node.signer.refresh()
    node.accounts.change_role("beta", "auditor", actor="cli:test")
    node.accounts.revoke("gamma", "left", actor="cli:test")
    node.accounts.create("delta", "admin", actor="cli:test")
    node.close()
    return data_dir, database


def export(ledger: tuple[Path, str], out: Path) -> Path:
    civitas(*ledger, "export", "--out", str(out))
    return out


def checkpoint_key(ledger: tuple[Path, str]) -> str:
    keyring = json.loads(civitas(*ledger, "keys", "show").stdout)
    key: str = keyring["checkpoint_keys"][-1]
    return key


def test_a_real_export_verifies_with_the_pinned_key(
    ledger: tuple[Path, str], tmp_path: Path
) -> None:
    bundle = export(ledger, tmp_path / "bundle")
    code, report = verify("bundle", str(bundle), "--checkpoint-key", checkpoint_key(ledger))
    assert code == 0, report
    assert report["entries"] == 6


def test_a_row_changed_in_the_database_is_caught(ledger: tuple[Path, str], tmp_path: Path) -> None:
    good = export(ledger, tmp_path / "good")
    _, database = ledger
    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:  # an insider edits a payload in place
        rowid, state = connection.execute(
            "SELECT rowid, state FROM stored_events ORDER BY rowid LIMIT 1 OFFSET 2"
        ).fetchone()
        forged = state.replace(b'"agency:tax"', b'"admin:tax!"')
        assert forged != state
        connection.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (forged, rowid))
    bundle = export(ledger, tmp_path / "tampered")
    code, report = verify(
        "bundle", str(bundle), "--trusted-checkpoint", str(good / "checkpoints" / "6.txt")
    )
    assert code == 1
    assert failed_checks(report) == {"payload"}


def test_a_row_moved_to_another_stream_in_the_database_is_caught(
    ledger: tuple[Path, str], tmp_path: Path
) -> None:
    path = ledger[1].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:  # beta's second event claims to be alpha's
        moved = connection.execute(
            "UPDATE stored_events SET originator_id = "
            "(SELECT originator_id FROM stored_events WHERE rowid = 1) "
            "WHERE originator_version = 2 AND rowid = "
            "(SELECT MIN(rowid) FROM stored_events WHERE originator_version = 2)"
        )
        assert moved.rowcount == 1
    bundle = export(ledger, tmp_path / "bundle")
    code, report = verify("bundle", str(bundle))
    assert code == 1
    assert failed_checks(report) == {"signature"}  # the versions still run 1, 2 on both streams


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("flip-entry", {"signature"}),
        ("drop-last", {"checkpoint_root"}),
        ("swap", {"checkpoint_root", "index"}),
    ],
)
def test_tampered_real_exports_are_caught(
    ledger: tuple[Path, str], tmp_path: Path, tamper: str, expected: set[str]
) -> None:
    bundle = export(ledger, tmp_path / "bundle")
    entries = bundle / "entries.jsonl"
    lines = entries.read_text().splitlines()
    if tamper == "flip-entry":
        record = json.loads(lines[3])
        record["entry"] = record["entry"].replace('"actor":"cli:', '"actor":"cLi:')
        lines[3] = json.dumps(record)
    elif tamper == "drop-last":
        lines.pop()
    else:
        lines[1], lines[2] = lines[2], lines[1]
    entries.write_text("\n".join(lines) + "\n")
    code, report = verify("bundle", str(bundle))
    assert code == 1
    assert expected <= failed_checks(report)


def test_receipts_from_the_writer_verify_offline(ledger: tuple[Path, str], tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.json"
    civitas(*ledger, "receipt", "4", "--out", str(receipt))
    code, report = verify("receipt", str(receipt), "--checkpoint-key", checkpoint_key(ledger))
    assert code == 0, report

    other = tmp_path / "other"
    other_db = f"sqlite:///{tmp_path / 'other.sqlite'}"
    civitas(other, other_db, "init")
    code, report = verify(
        "receipt", str(receipt), "--checkpoint-key", checkpoint_key((other, other_db))
    )
    assert code == 1
    assert "checkpoint_signature" in failed_checks(report)


def test_live_verification_against_the_server(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init", "--origin", "civitas.test/live")
    key = add_account(data_dir, database_url, "auditor-1", "auditor")
    trusted = export((data_dir, database_url), tmp_path / "earlier") / "checkpoints" / "1.txt"
    add_account(data_dir, database_url, "tax", "agency:tax,registrar,relying-service")
    with running_server(data_dir, database_url) as (port, _):
        audit = AuditServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        wait_for_checkpoint(audit, key, 2)  # the server's sequencer has signed the second entry
        code, report = verify(
            "live",
            "--target",
            f"127.0.0.1:{port}",
            "--trusted-checkpoint",
            str(trusted),
            "--checkpoint-key",
            checkpoint_key((data_dir, database_url)),
            env={"CIVITAS_API_KEY": key},
        )
    assert code == 0, report
    assert report["entries"] == 2
