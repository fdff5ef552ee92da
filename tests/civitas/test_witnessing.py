"""A log with two witnesses (real `civitas-witness` processes) and a 2-of-2 policy, end to end:
checkpoints gather both cosignatures, the verifier holds the log to them, a witness that is down
delays only the cosigned checkpoint, and an insider's rollback or rewrite is refused by the
witnesses and caught by `civitas-verify`. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from civitas.audit_export import download_bundle
from civitas.client import CivitasClient
from ledger.fork_guard import STATE_FILE
from tests.civitas.insider import delete_entry_and_rebuild, lone_entry_between, roll_back
from tests.civitas.ledger_checks import open_node, wait_until_sequenced
from tests.civitas.server_process import ServerProcess, add_account, civitas
from tests.witness.witness_process import WitnessProcess, init_witness
from witness.note import Cosigner

ORIGIN = "civitas.test/witnessed"
COSIGNATURE_LINES = 2


@dataclass
class WitnessedLog:
    data_dir: Path
    database: str
    checkpoint_key: str
    witness_keys: list[str]
    witnesses: list[WitnessProcess]
    server: ServerProcess
    agency_key: str
    auditor_key: str
    registered: int = 0

    def start_server(self) -> None:
        arguments = []
        for witness, vkey in zip(self.witnesses, self.witness_keys, strict=True):
            arguments += ["--witness", witness.url, vkey]
        self.server = ServerProcess(self.data_dir, self.database, *arguments)

    def register(self, count: int) -> None:
        with grpc.insecure_channel(self.server.target) as channel:
            agency = CivitasClient(channel, self.agency_key)
            for _ in range(count):
                self.registered += 1
                agency.register_citizen({"national_identifier": f"WIT-{self.registered}"})

    def latest(self) -> tuple[int, str]:
        with grpc.insecure_channel(self.server.target) as channel:
            checkpoint = CivitasClient(channel, self.auditor_key).latest_checkpoint()
        return checkpoint.tree_size, checkpoint.note

    def wait_witnessed(self, timeout: float = 30.0) -> tuple[int, str]:
        """The checkpoint of every entry so far, once both witnesses cosigned it."""
        node = open_node(self.data_dir, self.database)
        try:
            target = wait_until_sequenced(node)
        finally:
            node.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                size, note = self.latest()
            except grpc.RpcError:  # UNAVAILABLE until the first checkpoint is signed
                size, note = -1, "\n\n"
            lines = note.rstrip("\n").split("\n\n")[-1].split("\n")
            if len(lines) == 1 + COSIGNATURE_LINES and size == target:
                return size, note
            if time.monotonic() > deadline:
                raise AssertionError(f"not witnessed at size {size}:\n{self.server.log()}")
            time.sleep(0.1)

    def verify(
        self, *arguments: str, keys: list[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """civitas-verify with the log's key pinned and the 2-of-2 witness policy."""
        policy = []
        for vkey in self.witness_keys if keys is None else keys:
            policy += ["--witness-key", vkey]
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "verifier",
                *arguments,
                "--checkpoint-key",
                self.checkpoint_key,
                *policy,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def verify_live(
        self, *arguments: str, keys: list[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.verify(
            "live",
            "--target",
            self.server.target,
            "--api-key",
            self.auditor_key,
            "--jobs",
            "1",
            *arguments,
            keys=keys,
        )

    def verify_bundle(self, out: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
        civitas(self.data_dir, self.database, "export", "--out", str(out))
        return self.verify("bundle", str(out), "--jobs", "1", *arguments)

    def witness_states(self) -> list[int]:
        return [
            json.loads(next((w.folder / "state").glob("*.json")).read_text())["size"]
            for w in self.witnesses
        ]


def failed_checks(verified: subprocess.CompletedProcess[str]) -> set[str]:
    report = json.loads(verified.stdout)
    return {check["name"] for check in report["checks"] if check["failed"]}


@pytest.fixture
def witnessed(tmp_path: Path, database_url: str) -> Iterator[WitnessedLog]:
    data_dir = tmp_path / "data"
    shown = civitas(data_dir, database_url, "init", "--origin", ORIGIN).stdout
    checkpoint_key = shown.split("checkpoint key: ", 1)[1].strip()
    witness_keys = [init_witness(tmp_path / f"w{i}", f"witness.test/w{i}") for i in (1, 2)]
    witnesses = [WitnessProcess(tmp_path / f"w{i}", [checkpoint_key]) for i in (1, 2)]
    log = WitnessedLog(
        data_dir,
        database_url,
        checkpoint_key,
        witness_keys,
        witnesses,
        server=None,  # type: ignore[arg-type]  # started below
        agency_key=add_account(data_dir, database_url, "registrar", "registrar"),
        auditor_key=add_account(data_dir, database_url, "auditor", "auditor"),
    )
    log.start_server()
    yield log
    log.server.stop()
    for witness in log.witnesses:
        witness.stop()


def test_both_witnesses_cosign_and_the_verifier_holds_the_log_to_them(
    witnessed: WitnessedLog, tmp_path: Path
) -> None:
    witnessed.register(3)
    size, note = witnessed.wait_witnessed()
    names = [line.split(" ")[1] for line in note.rstrip("\n").split("\n\n")[-1].split("\n")]
    assert names == [ORIGIN, "witness.test/w1", "witness.test/w2"]
    assert witnessed.witness_states() == [size, size]

    live = witnessed.verify_live()
    assert live.returncode == 0, live.stdout + live.stderr
    bundle = witnessed.verify_bundle(tmp_path / "bundle")
    assert bundle.returncode == 0, bundle.stdout + bundle.stderr
    with grpc.insecure_channel(witnessed.server.target) as channel:
        download_bundle(CivitasClient(channel, witnessed.auditor_key), tmp_path / "downloaded")
    downloaded = witnessed.verify("bundle", str(tmp_path / "downloaded"), "--jobs", "1")
    assert downloaded.returncode == 0, downloaded.stdout + downloaded.stderr
    receipt = tmp_path / "receipt.json"
    civitas(witnessed.data_dir, witnessed.database, "receipt", "2", "--out", str(receipt))
    checked = witnessed.verify("receipt", str(receipt))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # A third witness that never saw the log: 3 of 3 cannot be met.
    stranger = Cosigner("witness.test/w3", Ed25519PrivateKey.generate()).verifier_key
    three = witnessed.verify_live(keys=[*witnessed.witness_keys, stranger])
    assert three.returncode == 1
    assert failed_checks(three) == {"witness_cosignatures"}
    # 2 of those 3 is met.
    two = witnessed.verify_live(
        "--witness-threshold", "2", keys=[*witnessed.witness_keys, stranger]
    )
    assert two.returncode == 0, two.stdout


def test_a_witness_that_is_down_delays_only_the_cosigned_checkpoint(
    witnessed: WitnessedLog,
) -> None:
    witnessed.register(1)
    before, _ = witnessed.wait_witnessed()
    witnessed.witnesses[1].kill()
    started = time.monotonic()
    witnessed.register(4)
    assert time.monotonic() - started < 10  # writes do not wait for the witness
    time.sleep(1.5)  # several checkpoints are signed meanwhile
    assert witnessed.latest()[0] == before  # but none meets the 2-of-2 policy
    witnessed.witnesses[1] = witnessed.witnesses[1].restart()
    after, _ = witnessed.wait_witnessed()
    assert after > before
    live = witnessed.verify_live()
    assert live.returncode == 0, live.stdout


@pytest.mark.parametrize("attack", ["roll back", "delete an entry mid-log"])
def test_an_insiders_rewrite_is_refused_by_the_witnesses_and_caught_by_the_verifier(
    witnessed: WitnessedLog, tmp_path: Path, attack: str
) -> None:
    witnessed.register(2)
    early, _ = witnessed.wait_witnessed()
    witnessed.register(3)
    late, _ = witnessed.wait_witnessed()
    witnessed.server.stop()

    node = open_node(witnessed.data_dir, witnessed.database)
    try:
        if attack == "roll back":
            roll_back(node, early)
        else:
            delete_entry_and_rebuild(node, lone_entry_between(node, early, late))
        # This insider holds the keys folder too, so they also remove the sequencer's memory of
        # what it signed (tests/civitas/test_insider_attacks.py: without it, the sequencer
        # refuses); against them only the witnesses stand.
        (node.config.keys_dir / STATE_FILE).unlink()
    finally:
        node.close()
    witnessed.start_server()
    witnessed.register(4)  # the insider's new history grows past what the witnesses hold

    deadline = time.monotonic() + 10
    while "witness" not in witnessed.server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "refused" in witnessed.server.log() or "rolled back" in witnessed.server.log()
    assert witnessed.witness_states() == [late, late]  # neither witness moved
    size, note = witnessed.latest()
    if attack == "roll back":
        assert size <= early  # the newest witnessed checkpoint is from before the attack
    else:
        assert note.count("\n\u2014 ") == 1  # the tree rebuilt: nothing witnessed, served bare

    if attack == "roll back":
        # The bundle up to the newest signed checkpoint: not witnessed.
        bundle = witnessed.verify_bundle(tmp_path / "bundle")
        assert bundle.returncode == 1
        assert "witness_cosignatures" in failed_checks(bundle)
        # Served the earlier witnessed checkpoint instead, the cosignatures are too old.
        time.sleep(2)
        live = witnessed.verify_live("--max-cosignature-age", "1")
    else:
        live = witnessed.verify_live()
    assert live.returncode == 1, live.stdout
    assert "witness_cosignatures" in failed_checks(live)
