"""benchmarks/streams.py still measures what it says, at a size a test can afford."""

from __future__ import annotations

import pytest

from benchmarks import streams


def test_idle_streams_are_held_open_and_measured(capsys: pytest.CaptureFixture[str]) -> None:
    figures = streams.measure(streams=40, citizens=2, calls=40)
    assert set(figures) == {
        "unary_p99_ms_without",
        "unary_p99_ms_with",
        "rss_kib_per_idle_stream",
        "health_deadline_exceeded",
        "unary_p99_ratio",
    }
    assert figures["unary_p99_ms_without"] > 0
    assert figures["unary_p99_ratio"] > 0
    assert figures["health_deadline_exceeded"] == 0
    assert "with 40 idle streams" in capsys.readouterr().out
