"""civitas-verify's witness options: usage errors exit 2 with the option named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witness.note import Cosigner

W1 = Cosigner("witness.test/w1", Ed25519PrivateKey.generate()).verifier_key


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--witness-threshold", "1"], "need --witness-key"),
        (["--max-cosignature-age", "60"], "need --witness-key"),
        (["--witness-key", "not-a-key"], "--witness-key"),
        (["--witness-key", W1, "--witness-threshold", "2"], "threshold"),
        (["--witness-key", W1, "--witness-key", W1], "twice"),
    ],
)
def test_witness_options_that_cannot_work_are_usage_errors(
    options: list[str], message: str, tmp_path: Path
) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "verifier", "receipt", str(receipt), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
