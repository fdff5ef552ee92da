"""benchmarks/bare_streams.py still opens its streams against a bare server and measures them."""

from __future__ import annotations

import pytest

from benchmarks import bare_streams


def test_the_bare_server_holds_the_streams_and_is_measured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    per_stream = bare_streams.measure(streams=40)
    assert isinstance(per_stream, float)
    assert "with 40 idle streams" in capsys.readouterr().out  # the holder opened every one
