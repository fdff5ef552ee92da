"""civitas-witness as an operator runs it: its key file, and a SIGKILL in the middle of a
cosigning, before and after it stored the new tree. Nothing is lost either way, and it never
cosigns two different trees of one size."""

from __future__ import annotations

import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.witness.test_witness import post
from tests.witness.trees import SigningLog, consistency, entries, request_body
from tests.witness.witness_process import WitnessProcess, init_witness, witness_command
from verifier.witnesses import WitnessPolicy, cosigners


@pytest.fixture
def log() -> SigningLog:
    return SigningLog()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "witness"


def test_init_makes_a_private_key_once_and_prints_the_verifier_key(folder: Path) -> None:
    vkey = init_witness(folder, "witness.test/w1")
    assert vkey.startswith("witness.test/w1+")
    assert WitnessPolicy.of([vkey], 1).keys[0].name == "witness.test/w1"
    key_file = folder / "witness.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = subprocess.run(
        witness_command("key", "--data", str(folder)), capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == vkey
    again = subprocess.run(
        witness_command("init", "--data", str(folder), "--name", "witness.test/w1"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2
    assert "exists already" in again.stderr
    assert init_witness(folder.parent / "other", "witness.test/w1") != vkey


def test_refuses_to_serve_with_a_key_others_can_read(folder: Path, log: SigningLog) -> None:
    init_witness(folder, "witness.test/w1")
    (folder / "witness.key").chmod(0o640)
    with pytest.raises(AssertionError, match="readable by others"):
        WitnessProcess(folder, [log.vkey])


@pytest.fixture
def cosigned_at_five(folder: Path, log: SigningLog) -> Iterator[tuple[WitnessProcess, str]]:
    vkey = init_witness(folder, "witness.test/w1")
    running = WitnessProcess(folder, [log.vkey])
    assert post(running.url, request_body(0, [], log.checkpoint(entries(5)))).status == 200
    running.stop()
    yield running, vkey
    running.stop()


@pytest.mark.parametrize("crash", ["before-state", "after-state"])
def test_a_kill_mid_cosign_loses_nothing_and_never_forks(
    cosigned_at_five: tuple[WitnessProcess, str], log: SigningLog, crash: str
) -> None:
    stopped, vkey = cosigned_at_five
    crashing = stopped.restart(crash=crash)
    grown = entries(9)
    note = log.checkpoint(grown)
    with pytest.raises(OSError):  # the connection dies with the process: no cosignature left
        post(crashing.url, request_body(5, consistency(5, grown), note))
    assert crashing.process.wait(timeout=10) == -signal.SIGKILL
    witness = crashing.restart()
    try:
        held = int(post(witness.url, request_body(0, [], note)).body)
        assert held == (5 if crash == "before-state" else 9)  # the stored tree, never a mix
        # Two trees of size 9 (the second with entry 6 rewritten), each sent from the size the
        # witness holds, as a log follows a 409: at most one is ever cosigned.
        fork = [*grown[:6], b"rewritten", *grown[7:]]
        cosigned = []
        for tree in (fork, grown) if crash == "before-state" else (grown, fork):
            old = int(post(witness.url, request_body(0, [], log.checkpoint(tree))).body)
            tree_note = log.checkpoint(tree)
            answer = post(witness.url, request_body(old, consistency(old, tree), tree_note))
            if answer.status == 200:
                assert cosigners(tree_note + answer.body, WitnessPolicy.of([vkey], 1))
                cosigned.append(tree)
            else:
                assert answer.status in (409, 422)
        # Before the state was written nothing was promised, so the first tree wins; after it,
        # the one whose cosignature died with the process is cosigned again (the log's retry).
        assert cosigned == ([fork] if crash == "before-state" else [grown])
    finally:
        witness.stop()
