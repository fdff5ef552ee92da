"""The data-key judgment on its own (verifier/data_keys.py): which proofs pass and which fail."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifier.data_keys import CONTEXT, CitizenKeys, check_data_keys, erased_but_proved
from verifier.report import Report

CHALLENGE = bytes(range(32))
ALICE = "5b1e3b9c-7a44-4c1f-9f57-3d9a8f6f2b10"
BOB = "6c2f4cad-8b55-4d20-a068-4eab9f7f3c21"


def entry(index: int, kind: str, stream: str) -> str:
    return json.dumps(
        {"stream": stream, "type": f"identity.Citizen.{kind}", "version": index},
        separators=(",", ":"),
    )


def registered(key: Ed25519PrivateKey | None) -> bytes:
    raw = b"" if key is None else key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return json.dumps({"key_presence": base64.b64encode(raw).decode()}).encode()


def proof(key: Ed25519PrivateKey, citizen_id: str, challenge: bytes = CHALLENGE) -> bytes:
    return key.sign(CONTEXT + challenge + citizen_id.encode())


def judged(keys: CitizenKeys, proofs: dict[str, bytes], size: int = 10, **kwargs: object) -> Report:
    report = Report("live", "test")
    check_data_keys(report, keys, size, CHALLENGE, proofs, **kwargs)  # type: ignore[arg-type]
    return report


def test_held_keys_pass_and_a_proof_by_another_key_or_challenge_fails() -> None:
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = CitizenKeys()
    keys.add(0, entry(1, "Registered", ALICE), registered(alice))
    keys.add(1, entry(1, "Registered", BOB), registered(bob))
    assert judged(keys, {ALICE: proof(alice, ALICE), BOB: proof(bob, BOB)}).ok
    report = judged(keys, {ALICE: proof(bob, ALICE), BOB: proof(bob, BOB, b"\0" * 32)})
    assert report.check("data_keys").failed == 2
    assert "another key" in report.check("data_keys").failures[0].reason


def test_a_missing_key_fails_unless_erased_in_the_snapshots_leaves() -> None:
    alice = Ed25519PrivateKey.generate()
    keys = CitizenKeys()
    keys.add(0, entry(1, "Registered", ALICE), registered(alice))
    assert judged(keys, {}).check("data_keys").failed == 1
    keys.add(5, entry(2, "Erased", ALICE), None)
    assert judged(keys, {}, size=10).ok
    assert not judged(keys, {}, size=5).ok  # the erasure came after the snapshot
    assert judged(keys, {}, size=0).check("data_keys").checked == 0  # registered after it


def test_an_erased_citizens_key_still_held_fails_unless_gone_when_asked_again() -> None:
    alice = Ed25519PrivateKey.generate()
    keys = CitizenKeys()
    keys.add(0, entry(1, "Registered", ALICE), None)  # the erasure dropped the payload
    keys.add(1, entry(2, "Erased", ALICE), None)
    proofs = {ALICE: proof(alice, ALICE)}
    assert erased_but_proved(keys, 10, proofs) == {ALICE}
    report = judged(keys, proofs, still_held_after_erasure={ALICE})
    assert "still holds the data key" in report.check("data_keys").failures[0].reason
    assert judged(keys, proofs, still_held_after_erasure=set()).ok  # deleted a moment later


def test_citizens_registered_before_presence_keys_are_noted_not_proved() -> None:
    keys = CitizenKeys()
    keys.add(0, entry(1, "Registered", ALICE), json.dumps({"assurance": "IAL1"}).encode())
    report = judged(keys, {ALICE: b"anything"})
    assert report.ok
    assert any("cannot prove" in note for note in report.notes)
    assert not judged(keys, {}).ok  # but a key the service does not even claim is missing
