"""Property: one changed, inserted or deleted byte anywhere in a bundle's log files is detected,
unless it provably changes nothing (JSON whitespace around the records, say).

"Provably nothing" is decided independently of the verifier: the mutated entries.jsonl must decode,
line by line, to exactly the original records. keyring.json is left out on purpose: it is the
trust anchor, unsigned by design, and a change that still admits every signature (a wider validity
window) is undetectable by any verifier; auditors pin keys for that (see test_bundle's pin tests).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.verifier.bundle_factory import make_log
from tests.verifier.reports import verify
from verifier.report import to_json


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = make_log(12, 3, rotate_at=6, erased=frozenset({4}))
    return log.write_bundle(tmp_path_factory.mktemp("pristine") / "bundle", [5, 12])


def _records(data: bytes) -> list[object] | None:
    """What a JSON Lines reader gets from the file, or None if it cannot read it."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    try:
        return [json.loads(line.decode("utf-8")) for line in lines]
    except ValueError:
        return None


def _mutate(data: bytes, position: int, operation: str, byte: int) -> bytes:
    position %= len(data) + (operation == "insert")
    if operation == "insert":
        return data[:position] + bytes([byte]) + data[position:]
    if operation == "delete":
        return data[:position] + data[position + 1 :]
    if data[position] == byte:
        byte = (byte + 1) % 256  # a replacement always changes the byte
    return data[:position] + bytes([byte]) + data[position + 1 :]


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from(["entries.jsonl", "checkpoints/5.txt", "checkpoints/12.txt"]),
    position=st.integers(min_value=0, max_value=10**6),
    operation=st.sampled_from(["replace", "insert", "delete"]),
    byte=st.one_of(st.integers(0, 255), st.sampled_from(b' \t\r\n"\\{},:0123456789=+/aAz')),
)
def test_a_byte_mutation_is_detected_or_harmless(
    pristine: Path, target: str, position: int, operation: str, byte: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(shutil.copytree(pristine, Path(scratch) / "bundle"))
        original = (folder / target).read_bytes()
        mutated = _mutate(original, position, operation, byte)
        (folder / target).write_bytes(mutated)
        report = verify(folder)
    harmless = target == "entries.jsonl" and _records(mutated) == _records(original)
    if harmless:
        assert report.ok, f"a harmless change was flagged: {mutated!r}\n{to_json(report)}"
    else:
        assert not report.ok, f"undetected change in {target}: {mutated!r}"


def test_whitespace_around_records_is_harmless(pristine: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(pristine, tmp_path / "bundle"))
    path = folder / "entries.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"index": ', b'"index":\t ').rstrip(b"\n"))
    assert verify(folder).ok
