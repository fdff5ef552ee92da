"""Fixtures for the verifier's tests: a small signed log and its export bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.verifier.bundle_factory import Log, make_log

CHECKPOINT_SIZES = [0, 8, 20, 33, 40]


@pytest.fixture
def log() -> Log:
    """40 entries over 4 streams; k1 signs entries 0-19, k2 from entry 20; 3 and 11 erased."""
    return make_log(40, 4)


@pytest.fixture
def bundle(tmp_path: Path, log: Log) -> Path:
    return log.write_bundle(tmp_path / "bundle", CHECKPOINT_SIZES)
