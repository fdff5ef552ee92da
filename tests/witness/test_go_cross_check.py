"""Go's golang.org/x/mod/sumdb/note opens a checkpoint cosigned by civitas-witness, with a
cosignature/v1 verifier written in Go from the C2SP spec (tests/witness/go/cosigv1check.go).

Runs where Debian's golang-go and golang-golang-x-mod-dev are installed (GOPATH mode, offline);
skipped elsewhere, as it needs a toolchain the project does not otherwise depend on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.witness.test_cosignature_format import LOG_LINE, SEED, TEXT, TIME
from witness.note import Cosigner

GO_SOURCE = Path(__file__).resolve().parent / "go" / "cosigv1check.go"
GOPATH = Path("/usr/share/gocode")
LOG_VKEY = "civitas.example/log+68f791b2+ASmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.skip("needs Debian's golang-go and golang-golang-x-mod-dev")
    folder = tmp_path_factory.mktemp("go")
    binary = folder / "cosigv1check"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(folder / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    subprocess.run(
        [go, "build", "-o", str(binary), str(GO_SOURCE)], env=env, check=True, timeout=300
    )
    return binary


def go_open(checker: Path, witness_vkey: str, note: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker)],
        input=f"{LOG_VKEY}\n{witness_vkey}\n{note}",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_go_opens_the_cosigned_checkpoint_and_refuses_a_changed_one(checker: Path) -> None:
    witness = Cosigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(SEED))
    note = TEXT + "\n" + LOG_LINE + witness.cosign(TEXT, TIME)
    opened = go_open(checker, witness.verifier_key, note)
    assert opened.returncode == 0, opened.stdout
    assert opened.stdout.split() == ["civitas.example/log", "witness.example/w1"]
    # A cosignature of another tree, under this checkpoint: Go refuses the note, as a known
    # key's signature that does not verify.
    stale = TEXT + "\n" + LOG_LINE + witness.cosign(TEXT.replace("\n1\n", "\n2\n"), TIME)
    refused = go_open(checker, witness.verifier_key, stale)
    assert refused.returncode == 1
    assert "open:" in refused.stdout
