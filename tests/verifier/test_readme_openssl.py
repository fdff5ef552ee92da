"""The README's by-hand checks (```sh blocks) really verify a bundle with openssl and coreutils."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.rfc9162_tree import mth_leaf
from tests.verifier.bundle_factory import Log

README = Path(__file__).resolve().parents[2] / "verifier" / "README.md"
SUCCESS = "Signature Verified Successfully"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", README.read_text("utf-8"), flags=re.M | re.S)


def _run(block: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-u", "-c", block],  # -e: a failed openssl fails the block
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )


def test_the_readme_has_an_entry_block_and_a_checkpoint_block() -> None:
    blocks = _blocks()
    assert len(blocks) == 2
    assert "entries.jsonl" in blocks[0]
    assert "checkpoints" in blocks[1]


def test_the_entry_block_verifies_the_signature_and_prints_the_leaf_hash(
    log: Log, bundle: Path
) -> None:
    done = _run(_blocks()[0], bundle)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == SUCCESS
    assert done.stdout.splitlines()[1].split()[0] == mth_leaf(log.records[0].entry.encode()).hex()


def test_the_entry_block_refuses_a_tampered_entry(bundle: Path) -> None:
    path = bundle / "entries.jsonl"
    path.write_text(
        path.read_text("utf-8").replace('\\"version\\":1', '\\"version\\":2', 1), "utf-8"
    )
    done = _run(_blocks()[0], bundle)
    assert done.returncode != 0
    assert SUCCESS not in done.stdout
    assert "Signature Verification Failure" in done.stdout + done.stderr


def test_the_checkpoint_block_verifies_the_key_hash_and_signature(bundle: Path) -> None:
    done = _run(_blocks()[1], bundle)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    hashes = {line.rsplit(" ", 1)[1] for line in lines if line.startswith("key hash")}
    assert len(hashes) == 1
    assert len(hashes.pop()) == 8
    assert lines[-1] == SUCCESS


def test_the_checkpoint_block_refuses_a_changed_root(log: Log, bundle: Path) -> None:
    path = bundle / "checkpoints" / "40.txt"
    note = path.read_text("utf-8")
    root_line = note.split("\n")[2]
    path.write_text(note.replace(root_line, root_line[::-1], 1), "utf-8")
    done = _run(_blocks()[1], bundle)
    assert done.returncode != 0
    assert SUCCESS not in done.stdout
