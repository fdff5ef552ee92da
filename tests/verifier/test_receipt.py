"""Receipts: one entry proved into a signed checkpoint, verifiable offline."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.verifier.bundle_factory import Log, make_log
from verifier.cli import main
from verifier.keyring import keyring_from_json
from verifier.receipt import verify_receipt
from verifier.report import Report, to_json
from verifier.trust import Pins


def _verify(receipt: object, pins: Pins | None = None) -> Report:
    return verify_receipt(receipt, pins=pins or Pins(), subject="test receipt")


def _failed(report: Report) -> set[str]:
    return set(report.failed_checks())


def test_a_receipt_verifies_and_says_nothing_was_pinned(log: Log) -> None:
    report = _verify(log.receipt(17, 33))
    assert report.ok, to_json(report)
    assert report.checks["inclusion"].checked == report.checks["signature"].checked == 1
    assert any("NOT independently pinned" in note for note in report.notes)


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 40), (39, 40), (20, 21), (32, 33)])
def test_receipts_at_the_edges_of_the_tree_verify(log: Log, index: int, size: int) -> None:
    assert _verify(log.receipt(index, size), Pins(checkpoint_keys=(log.checkpoint_key.vkey,))).ok


def test_a_receipt_of_an_erased_payload_verifies_and_reports_it(log: Log) -> None:
    report = _verify(log.receipt(3, 40))
    assert report.ok
    assert report.erased_indices == [3]


def test_pinned_keys_are_the_only_ones_trusted(log: Log) -> None:
    receipt = log.receipt(5, 40)
    assert _verify(receipt, Pins(checkpoint_keys=(log.checkpoint_key.vkey,))).ok
    assert _verify(receipt, Pins(keyring=keyring_from_json(log.keyring()))).ok
    other = make_log(4, 1, key_label="other")
    report = _verify(receipt, Pins(checkpoint_keys=(other.checkpoint_key.vkey,)))
    assert _failed(report) == {"checkpoint_signature"}


def test_a_receipt_from_another_log_fails_against_our_key(log: Log) -> None:
    other = make_log(40, 4, key_label="other", origin="other.example/ledger")
    pinned = Pins(checkpoint_keys=(log.checkpoint_key.vkey,))
    assert _failed(_verify(other.receipt(5, 40), pinned)) == {"checkpoint_signature"}


def test_another_logs_checkpoint_in_our_receipt_fails(log: Log) -> None:
    receipt = log.receipt(5, 40)
    receipt["checkpoint"] = make_log(40, 4, key_label="other").checkpoint(40)  # same origin
    report = _verify(receipt)
    assert _failed(report) == {"checkpoint_signature"}
    assert "not signed by a trusted key" in report.checks["checkpoint_signature"].failures[0].reason


def test_a_changed_origin_fails(log: Log) -> None:
    receipt = log.receipt(5, 40)
    receipt["origin"] = "other.example/ledger"
    assert _failed(_verify(receipt)) == {"checkpoint_signature"}


def _flip(encoded: str) -> str:
    raw = bytearray(base64.b64decode(encoded))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_a_tampered_proof_fails(log: Log) -> None:
    receipt = log.receipt(5, 40)
    proof = list(receipt["inclusion_proof"])  # type: ignore[call-overload]
    proof[2] = _flip(proof[2])
    assert _failed(_verify({**receipt, "inclusion_proof": proof})) == {"inclusion"}
    assert _failed(_verify({**receipt, "inclusion_proof": proof[:-1]})) == {"inclusion"}
    assert _failed(_verify({**receipt, "index": 6})) == {"inclusion"}


def test_a_tampered_entry_or_payload_fails(log: Log) -> None:
    receipt = log.receipt(5, 40)
    entry = str(receipt["entry"]).replace('"version":', '"version":1')
    assert {"signature", "inclusion"} <= _failed(_verify({**receipt, "entry": entry}))
    payload = _flip(str(receipt["payload"]))
    assert _failed(_verify({**receipt, "payload": payload})) == {"payload"}


@pytest.mark.parametrize("document", [None, [], {"index": 1}, {"entry": 5}])
def test_a_malformed_receipt_fails_cleanly(document: object) -> None:
    assert _failed(_verify(document)) == {"receipt_format"}


def test_the_cli_pins_and_exit_codes(log: Log, tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(log.receipt(9, 40)), "utf-8")
    assert main(["receipt", str(path)]) == 0
    assert main(["receipt", str(path), "--checkpoint-key", log.checkpoint_key.vkey]) == 0
    other = make_log(4, 1, key_label="other").checkpoint_key.vkey
    assert main(["receipt", str(path), "--checkpoint-key", other]) == 1
    assert main(["receipt", str(path), "--checkpoint-key", "not-a-key"]) == 2
    keyring = tmp_path / "keyring.json"
    keyring.write_text(json.dumps(log.keyring()), "utf-8")
    assert main(["receipt", str(path), "--keyring", str(keyring)]) == 0
    path.write_text("{not json", "utf-8")
    assert main(["receipt", str(path)]) == 1
    assert main(["receipt", str(tmp_path / "missing.json")]) == 2
