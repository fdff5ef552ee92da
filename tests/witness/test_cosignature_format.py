"""The cosignature/v1 bytes (C2SP tlog-cosignature), against a Go implementation's vectors, and
the three independent implementations here (witness, verifier, log) against each other."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.witnessing import WitnessKey, WitnessKeyError
from tests.docs.test_ledger_format import examples
from tests.vectors import COSIGNATURE
from verifier.note import NoteError
from verifier.witnesses import WitnessPolicy, cosigners, parse_witness_key
from witness.note import Cosigner

VECTORS = json.loads((COSIGNATURE / "transparency-dev.json").read_text())
SEED = bytes(range(0x40, 0x60))  # a test key, never to be used
# The one-entry checkpoint of docs/ledger-format.md's worked example.
TEXT = "civitas.example/log\n1\nbEwYZiQK2rXokJryYprWzeuy3UEC4gKkG/EPCp/yy8M=\n"
LOG_LINE = (
    "\u2014 civitas.example/log aPeRso5xQII1ED7gaoQVCr52gIYRx3Xsz6aWIgU8HpD1X+vziqbycLuFfydhjVQ"
    "YBCLZmcsBnMfBe2acJdOXofs1BgI=\n"
)
TIME = 1_767_225_600


def test_a_go_witness_key_reads_the_same_in_the_verifier_and_the_log() -> None:
    for vector in VECTORS["verifier_keys"]:
        if vector["valid"]:
            name = vector["vkey"].split("+")[0]
            assert parse_witness_key(vector["vkey"]).name == name
            assert WitnessKey.parse(vector["vkey"]).key_id.hex() == vector["vkey"].split("+")[1]
        else:
            with pytest.raises(NoteError):
                parse_witness_key(vector["vkey"])
            with pytest.raises(WitnessKeyError):
                WitnessKey.parse(vector["vkey"])


def test_a_go_cosignature_is_key_id_then_big_endian_time_then_signature() -> None:
    for vector in VECTORS["signatures"]:
        blob = base64.b64decode(vector["base64"])
        assert len(blob) == 4 + 8 + 64
        assert blob[:4].hex() == vector["key_id"]
        assert struct.unpack(">Q", blob[4:12]) == (vector["timestamp"],)


def cosigner() -> Cosigner:
    return Cosigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(SEED))


def test_the_witness_line_for_a_fixed_key_and_time() -> None:
    line = cosigner().cosign(TEXT, TIME)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    blob = base64.b64decode(encoded)
    assert name == "witness.example/w1"
    assert blob[:4] == cosigner().key_id
    assert blob[4:12] == TIME.to_bytes(8, "big")
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    public.verify(blob[12:], f"cosignature/v1\ntime {TIME}\n{TEXT}".encode())  # raises if not


def test_the_witness_verifier_and_log_agree_on_every_byte() -> None:
    witness = cosigner()
    line = witness.cosign(TEXT, TIME)
    note = TEXT + "\n" + LOG_LINE + line
    policy = WitnessPolicy.of([witness.verifier_key], 1)
    assert cosigners(note, policy) == ["witness.example/w1"]
    assert WitnessKey.parse(witness.verifier_key).verified_line(line, TEXT) == line
    # Another time in the blob, or another tree: neither implementation accepts it.
    blob = bytearray(base64.b64decode(line.rstrip("\n").split(" ")[2]))
    blob[11] ^= 1
    forged = f"\u2014 witness.example/w1 {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        cosigners(TEXT + "\n" + LOG_LINE + forged, policy)
    assert WitnessKey.parse(witness.verifier_key).verified_line(forged, TEXT) is None
    other = TEXT.replace("\n1\n", "\n2\n")
    assert WitnessKey.parse(witness.verifier_key).verified_line(line, other) is None


def test_a_policy_counts_distinct_witnesses_and_old_cosignatures_only_without_a_maximum_age() -> (
    None
):
    first, second = cosigner(), Cosigner("witness.example/w2", Ed25519PrivateKey.generate())
    note = TEXT + "\n" + LOG_LINE + first.cosign(TEXT, TIME) + first.cosign(TEXT, TIME + 1)
    both = WitnessPolicy.of([first.verifier_key, second.verifier_key], 2)
    assert cosigners(note, both) == ["witness.example/w1"]  # one witness twice is one
    note += second.cosign(TEXT, TIME)
    assert cosigners(note, both) == ["witness.example/w1", "witness.example/w2"]
    recent = WitnessPolicy.of([first.verifier_key, second.verifier_key], 2, max_age=60)
    assert cosigners(note, recent, now=TIME + 30) == ["witness.example/w1", "witness.example/w2"]
    assert cosigners(note, recent, now=TIME + 61) == ["witness.example/w1"]  # its later line
    assert cosigners(note, recent, now=TIME + 62) == []
    with pytest.raises(NoteError):
        WitnessPolicy.of([first.verifier_key, first.verifier_key], 1)
    with pytest.raises(NoteError):
        WitnessPolicy.of([first.verifier_key], 2)


def test_the_worked_example_in_the_ledger_format_is_what_the_witness_makes() -> None:
    ex = examples()
    witness = cosigner()
    assert ex["witness_key"].strip() == witness.verifier_key
    assert ex["cosigned_checkpoint"] == TEXT + "\n" + LOG_LINE + witness.cosign(TEXT, TIME)
    policy = WitnessPolicy.of([ex["witness_key"].strip()], 1)
    assert cosigners(ex["cosigned_checkpoint"], policy) == ["witness.example/w1"]
