"""benchmarks/growth.py still measures what it says, at a size a test can afford."""

from __future__ import annotations

import pytest

from benchmarks import growth


def test_growth_compares_a_long_history_with_a_short_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 25 prior sign-ins put the long history past its first snapshot (one every 20 events).
    figures = growth.measure("", prior=25, baseline=3, samples=3)
    assert set(figures) == {"cold", "warm", "cold_ms", "warm_ms"}
    assert all(value > 0 for value in figures.values())
    out = capsys.readouterr().out
    assert "after 3 sign-ins" in out
    assert "after 25" in out


def test_growth_runs_on_postgres(postgres_schema_url: str) -> None:
    figures = growth.measure(postgres_schema_url, prior=25, baseline=3, samples=2)
    assert figures["cold"] > 0
    assert figures["warm"] > 0
