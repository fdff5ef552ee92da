"""`civitas-verify live` proves every citizen's data key is held unless the log erased them, and
gone if it did (verifier/data_keys.py, docs/ledger-format.md section 8): an insider deleting a
key row, or an erasure that left its key behind, is caught from outside the service."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import grpc

from identity.personal_data import data_key_table
from protos.civitas.v1.audit_pb2_grpc import AuditServiceStub
from tests.civitas.server_process import add_account, civitas, running_server
from tests.civitas.test_server import wait_for_checkpoint
from tests.insider import insider_node
from tests.verifier.test_against_writer import checkpoint_key, failed_checks, verify


def person(national_identifier: str) -> dict[str, str]:
    return {"national_identifier": national_identifier, "given_name": "Kadri"}


def data_keys_check(report: dict[str, object]) -> dict[str, object]:
    checks = report["checks"]
    assert isinstance(checks, list)
    found: dict[str, object] = next(c for c in checks if c["name"] == "data_keys")
    return found


def test_a_data_key_deleted_without_erasure_is_caught(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init", "--origin", "civitas.test/data-keys")
    key = add_account(data_dir, database_url, "auditor-1", "auditor")
    with insider_node(data_dir, database_url) as node:
        kept, shredded, erased = (
            node.identity.register_citizen(
                person(f"DK-{n}"), "IAL1", "", "r", "cli:test"
            ).citizen_id
            for n in range(3)
        )
        table = data_key_table(node.store.datastore)
        erased_key_row = table.select(UUID(erased))
        assert erased_key_row is not None
        node.identity.erase_citizen(erased, "citizen's request", "cli:test")
    pin = ("--checkpoint-key", checkpoint_key((data_dir, database_url)))

    with running_server(data_dir, database_url) as (port, _):
        target = ("--target", f"127.0.0.1:{port}")
        # The first checkpoint; the verifier waits for one covering the data keys' snapshot.
        wait_for_checkpoint(AuditServiceStub(grpc.insecure_channel(target[1])), key, 1)
        code, report = verify("live", *target, *pin, env={"CIVITAS_API_KEY": key})
        assert code == 0, report
        assert data_keys_check(report)["checked"] == 3  # kept, shredded-to-be, and erased

        with insider_node(data_dir, database_url) as node:
            node.data_keys.destroy(UUID(shredded))  # a key row deleted, no Erased event
        code, report = verify("live", *target, *pin, env={"CIVITAS_API_KEY": key})
        assert code == 1
        assert failed_checks(report) == {"data_keys"}
        failures = data_keys_check(report)["failures"]
        assert isinstance(failures, list)
        assert [f["where"].split()[1] for f in failures] == [shredded]
        assert "no Erased event" in failures[0]["reason"]

        with insider_node(data_dir, database_url) as node:
            data_key_table(node.store.datastore).insert(UUID(erased), erased_key_row)
        code, report = verify("live", *target, *pin, env={"CIVITAS_API_KEY": key})
        assert code == 1
        failures = data_keys_check(report)["failures"]
        assert isinstance(failures, list)
        assert {f["where"].split()[1] for f in failures} == {shredded, erased}
        assert any("still holds the data key" in f["reason"] for f in failures)
    assert kept not in str(report)
