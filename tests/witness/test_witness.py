"""The witness's add-checkpoint answers, over real HTTP (C2SP tlog-witness), and its state.

Every refusal the spec names is asked for; a refused checkpoint never moves the stored tree.
"""

from __future__ import annotations

import base64
import struct
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checkpoint import Checkpoint, sign_checkpoint
from tests.witness.trees import SigningLog, consistency, entries, request_body, root
from verifier.witnesses import WitnessPolicy, cosigners
from witness.merkle import ProofError, verify_consistency
from witness.note import Cosigner, parse_log_key
from witness.server import MAX_BODY, WitnessServer
from witness.state import StateStore
from witness.witness import Witness

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, the witness's stopped clock


@dataclass
class Answer:
    status: int
    content_type: str
    body: str


def post(url: str, body: bytes) -> Answer:
    request = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(
                response.status, response.headers.get_content_type(), response.read().decode()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers.get_content_type(), error.read().decode())


class RunningWitness:
    def __init__(self, folder: Path, log: SigningLog) -> None:
        self.cosigner = Cosigner("witness.test/w1", Ed25519PrivateKey.generate())
        self.folder = folder
        self.log = log
        self.start()

    def start(self) -> None:
        logs = {self.log.origin: [parse_log_key(self.log.vkey)]}
        witness = Witness(self.cosigner, logs, StateStore(self.folder), clock=lambda: NOW)
        self.server = WitnessServer(("127.0.0.1", 0), witness)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        serve = lambda: self.server.serve_forever(poll_interval=0.02)  # noqa: E731
        threading.Thread(target=serve, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, old: int, leaves: list[bytes], proof: list[bytes] | None = None) -> Answer:
        proof = consistency(old, leaves) if proof is None else proof
        return post(self.url, request_body(old, proof, self.log.checkpoint(leaves)))

    def cosigned_by_it(self, note: str, answer: Answer) -> list[str]:
        policy = WitnessPolicy.of([self.cosigner.verifier_key], 1)
        return cosigners(note + answer.body, policy, now=NOW)


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[RunningWitness]:
    running = RunningWitness(tmp_path / "state", SigningLog())
    yield running
    running.stop()


def test_cosigns_a_first_checkpoint_in_the_cosignature_v1_format(witness: RunningWitness) -> None:
    leaves = entries(5)
    note = witness.log.checkpoint(leaves)
    answer = post(witness.url, request_body(0, [], note))
    assert answer.status == 200
    assert witness.cosigned_by_it(note, answer) == ["witness.test/w1"]
    name, encoded = answer.body.removeprefix("\u2014 ").rstrip("\n").split(" ")
    blob = base64.b64decode(encoded)
    assert name == "witness.test/w1"
    assert len(blob) == 4 + 8 + 64
    assert blob[:4] == witness.cosigner.key_id
    assert struct.unpack(">Q", blob[4:12]) == (NOW,)


def test_cosigns_a_consistent_extension_and_again_the_same_tree(witness: RunningWitness) -> None:
    assert witness.add(0, entries(5)).status == 200
    grown = witness.add(5, entries(13))
    assert grown.status == 200
    assert witness.cosigned_by_it(witness.log.checkpoint(entries(13)), grown)
    assert witness.add(13, entries(13)).status == 200  # the same tree, e.g. a refresh


def test_a_stale_old_size_gets_409_with_the_size_held(witness: RunningWitness) -> None:
    assert witness.add(0, entries(7)).status == 200
    answer = witness.add(0, entries(9))
    assert (answer.status, answer.content_type, answer.body) == (409, "text/x.tlog.size", "7\n")
    assert witness.add(3, entries(9)).status == 409


def test_refuses_a_rollback_to_a_smaller_tree(witness: RunningWitness) -> None:
    assert witness.add(0, entries(8)).status == 200
    assert witness.add(8, entries(5), proof=[]).status == 400  # old above the checkpoint's size
    assert witness.add(5, entries(5)).status == 409  # not the size it holds
    assert witness.add(8, entries(9)).status == 200  # still at 8: the refusals moved nothing


def test_refuses_a_rewritten_history_422(witness: RunningWitness) -> None:
    assert witness.add(0, entries(8)).status == 200
    # Entry 3 deleted and the tree rebuilt, then grown past the old size: no proof links them.
    rewritten = [leaf for i, leaf in enumerate(entries(12)) if i != 3]
    answer = witness.add(8, rewritten)
    assert answer.status == 422
    assert witness.add(8, entries(12)).status == 200  # the honest extension still cosigns


def test_an_empty_tree_must_have_the_empty_root(witness: RunningWitness) -> None:
    log = witness.log
    signed = sign_checkpoint(Checkpoint(log.origin, 0, bytes(32)), log.signer)
    assert post(witness.url, request_body(0, [], signed)).status == 422
    assert witness.add(0, []).status == 200


def test_never_cosigns_two_trees_of_one_size(witness: RunningWitness) -> None:
    assert witness.add(0, entries(6)).status == 200
    assert witness.add(6, entries(6, salt="'")).status == 409


def test_refuses_unknown_origins_and_unsigned_checkpoints(witness: RunningWitness) -> None:
    stranger = SigningLog("civitas.test/another-log")
    note = stranger.checkpoint(entries(3))
    assert post(witness.url, request_body(0, [], note)).status == 404
    impostor = SigningLog(witness.log.origin)  # the log's origin, another key
    assert post(witness.url, request_body(0, [], impostor.checkpoint(entries(3)))).status == 403
    genuine = witness.log.checkpoint(entries(3))
    forged = genuine.replace("\n3\n", "\n4\n", 1)  # signed line kept, body changed
    assert post(witness.url, request_body(0, [], forged)).status == 403


@pytest.mark.parametrize(
    "body",
    [b"", b"old 01\n\nx", b"old 1\nnot base64!\n\nx", b"\xff\xfe", b"old 0\n" + b"A" * 10],
)
def test_malformed_requests_get_400(witness: RunningWitness, body: bytes) -> None:
    assert post(witness.url, body).status == 400


def test_a_body_over_the_limit_gets_413(witness: RunningWitness) -> None:
    assert post(witness.url, b"x" * (MAX_BODY + 1)).status == 413


def test_the_state_outlives_the_process(witness: RunningWitness) -> None:
    assert witness.add(0, entries(10)).status == 200
    witness.stop()
    witness.start()  # a new witness on the same folder
    assert witness.add(0, entries(11)).body == "10\n"
    assert witness.add(10, entries(11)).status == 200
    state = next(witness.folder.glob("*.json"))
    assert state.stat().st_mode & 0o077 == 0


def test_concurrent_requests_are_checked_and_stored_one_at_a_time(
    witness: RunningWitness,
) -> None:
    """C2SP tlog-witness's race: checking the old size and storing the new tree are atomic, so
    of many first checkpoints sent at once (each from old size 0) exactly one is cosigned."""
    trees = [entries(size) for size in range(1, 13)]
    bodies = [request_body(0, [], witness.log.checkpoint(tree)) for tree in trees]
    answers: list[Answer] = []
    threads = [
        threading.Thread(target=lambda b=b: answers.append(post(witness.url, b))) for b in bodies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cosigned = [answer for answer in answers if answer.status == 200]
    assert len(cosigned) == 1
    assert sorted({answer.status for answer in answers}) == [200, 409]  # the others: 409
    held = int(post(witness.url, request_body(0, [], witness.log.checkpoint(entries(20)))).body)
    assert witness.cosigned_by_it(witness.log.checkpoint(entries(held)), cosigned[0])


def test_a_damaged_state_is_never_guessed_at(witness: RunningWitness) -> None:
    assert witness.add(0, entries(4)).status == 200
    state = next(witness.folder.glob("*.json"))
    state.write_text('{"origin": "x"')
    assert witness.add(4, entries(6)).status == 500
    assert witness.add(0, entries(6)).status == 500


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 70).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
def test_consistency_checks_agree_with_rfc_6962(sizes: tuple[int, int]) -> None:
    old, new = sizes
    leaves = entries(new)
    proof = consistency(old, leaves)
    verify_consistency(old, new, root(leaves[:old]), root(leaves), proof)
    for position in range(len(proof)):
        damaged = list(proof)
        damaged[position] = bytes([damaged[position][0] ^ 1]) + damaged[position][1:]
        with pytest.raises(ProofError):
            verify_consistency(old, new, root(leaves[:old]), root(leaves), damaged)
    with pytest.raises(ProofError):
        verify_consistency(old, new, root(entries(old, salt="x")), root(leaves), proof)
