"""benchmarks/tiles.py still measures what it says, at a size a test can afford."""

from __future__ import annotations

import pytest

from benchmarks import tiles


def test_tiles_compares_a_large_log_with_a_small_one(capsys: pytest.CaptureFixture[str]) -> None:
    figures = tiles.measure("", small=300, large=600, samples=3)
    assert set(figures) == {
        "tile_large_over_small",
        "bundle_large_over_small",
        "tile_over_checkpoint",
        "bundle_over_checkpoint",
        "tile_ms",
        "bundle_ms",
    }
    assert all(value > 0 for value in figures.values())
    out = capsys.readouterr().out
    assert "300 entries" in out
    assert out.rstrip().splitlines()[-1].startswith("bundle_ms=")
