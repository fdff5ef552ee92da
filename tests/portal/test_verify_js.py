"""portal/static/verify.js, the in-browser receipt check, against the ledger's own definitions:
its RFC 9162 inclusion check on every (index, size) of trees up to 33 leaves, proofs made by
ledger/merkle.py; and docs/ledger-format.md's worked example as a receipt, which verifies,
pinned or not, and fails once any part of it is changed. Run under Node (its WebCrypto), which
the browser tests cannot do for so many cases quickly."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from typing import Any

import pytest

from ledger.merkle import inclusion_proof_ranges, leaf_hash, root_from_leaf_hashes
from tests.conftest import REPO_ROOT
from tests.docs.test_ledger_format import examples

CHECKS = REPO_ROOT / "tests" / "portal" / "verify_checks.mjs"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def run_checks(cases: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to run verify.js outside a browser")
    done = subprocess.run(
        [node, str(CHECKS)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=REPO_ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def inclusion_cases() -> list[list[Any]]:
    cases: list[list[Any]] = []
    for size in range(1, 34):
        leaves = [leaf_hash(f"entry {i}".encode()) for i in range(size)]
        root = root_from_leaf_hashes(leaves)
        for index in range(size):
            proof = [
                root_from_leaf_hashes(leaves[begin:end])
                for begin, end in inclusion_proof_ranges(index, size)
            ]
            cases.append([index, size, b64(leaves[index]), [b64(p) for p in proof], b64(root)])
    return cases


def worked_example_receipt() -> dict[str, Any]:
    ex = examples()
    return {
        "origin": "civitas.example/log",
        "index": 0,
        "entry": ex["entry"].strip(),
        "signature": ex["signature"].strip(),
        "payload": b64(ex["payload"].strip().encode()),
        "inclusion_proof": [],
        "checkpoint": ex["checkpoint"],
        "keyring": {
            "entry_keys": [
                {
                    "kid": "k1",
                    "public_key": ex["entry_public_key"].strip(),
                    "not_before": "2026-01-01T00:00:00Z",
                    "not_after": None,
                }
            ],
            "checkpoint_keys": [ex["checkpoint_key"].strip()],
            "origin": "civitas.example/log",
        },
    }


def tampered(receipt: dict[str, Any], change: str) -> dict[str, Any]:
    forged: dict[str, Any] = json.loads(json.dumps(receipt))
    if change == "entry":
        forged["entry"] = forged["entry"].replace('"version":7', '"version":8')
    elif change == "payload":
        forged["payload"] = b64(b'{"method":"password","relying_service":"tax-portal"}')
    elif change == "proof":
        forged["inclusion_proof"] = [b64(bytes(32))]
    elif change == "checkpoint":
        forged["checkpoint"] = forged["checkpoint"].replace("\n1\n", "\n2\n", 1)
    elif change == "key window":
        forged["keyring"]["entry_keys"][0]["not_before"] = "2027-01-01T00:00:00Z"
    return forged


CHANGES = ["entry", "payload", "proof", "checkpoint", "key window"]


def test_verify_js_agrees_with_the_ledger_on_inclusion_and_the_worked_example() -> None:
    receipt = worked_example_receipt()
    other_key = "civitas.example/log+00000000+" + b64(b"\x01" + bytes(32))
    cases = {
        "inclusion": inclusion_cases(),
        "receipts": [
            {"receipt": receipt, "pinned": ""},
            {"receipt": receipt, "pinned": receipt["keyring"]["checkpoint_keys"][0]},
            {"receipt": receipt, "pinned": other_key},
            *({"receipt": tampered(receipt, change), "pinned": ""} for change in CHANGES),
        ],
    }
    result = run_checks(cases)
    assert result["wrong"] == []
    unpinned, pinned, wrong_pin, *forged = result["outcomes"]
    assert (unpinned["outcome"], unpinned["checks"]) == (
        "verified",
        ["signature", "payload", "inclusion", "checkpoint", "unpinned", "no-witnesses"],
    )
    assert pinned["outcome"] == "verified"
    assert "pinned" in pinned["checks"]
    assert wrong_pin["outcome"] == "failed"
    assert [outcome["outcome"] for outcome in forged] == ["failed"] * len(CHANGES), forged


def test_verify_js_checks_the_witnesses_it_is_given_and_skips_the_others() -> None:
    # docs/ledger-format.md's worked example of a witness: its cosignature/v1 key, and the
    # example checkpoint as served once it cosigned.
    ex = examples()
    witness_key = ex["witness_key"].strip()
    cosignature_line = ex["cosigned_checkpoint"].removeprefix(ex["checkpoint"])
    assert cosignature_line.startswith("\u2014 witness.example/w1 ")
    receipt = worked_example_receipt()
    cosigned = {**receipt, "checkpoint": ex["cosigned_checkpoint"]}
    signature = cosignature_line.rsplit(maxsplit=1)[-1]
    flipped = signature[:-6] + ("A" if signature[-6] != "A" else "B") + signature[-5:]
    forged = {
        **receipt,
        "checkpoint": receipt["checkpoint"] + cosignature_line.replace(signature, flipped),
    }
    cases = {
        "inclusion": [],
        "receipts": [
            {"receipt": cosigned, "pinned": "", "witnesses": [witness_key]},
            {"receipt": cosigned, "pinned": "", "witnesses": []},  # unknown witness: skipped
            {"receipt": receipt, "pinned": "", "witnesses": [witness_key]},  # none cosigned
            {"receipt": forged, "pinned": "", "witnesses": [witness_key]},
            {"receipt": forged, "pinned": "", "witnesses": []},
        ],
    }
    known, unknown, uncosigned, bad, bad_unknown = run_checks(cases)["outcomes"]
    assert (known["outcome"], known["checks"][-1], known["witnesses"]) == (
        "verified",
        "witnesses",
        1,
    )
    assert (unknown["outcome"], unknown["checks"][-1]) == ("verified", "no-witnesses")
    assert (uncosigned["outcome"], uncosigned["checks"][-1]) == ("verified", "no-witnesses")
    assert bad == {
        "outcome": "failed",
        "why": "the cosignature of witness.example/w1 does not verify",
    }
    assert bad_unknown["outcome"] == "verified"  # a witness the reader does not trust
