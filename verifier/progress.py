"""A one-line progress indicator on stderr, shown only to a person watching a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    _INTERVAL = 0.25  # seconds between redraws: enough to look alive, cheap enough to ignore

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._label = label
        self._started = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int, fraction: float | None = None) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self._INTERVAL:
            return
        self._last_draw = now
        rate = done / max(now - self._started, 1e-9)
        share = f"{fraction:6.1%} " if fraction is not None else ""
        self._stream.write(f"\r{self._label}: {share}{done:,} entries, {rate:,.0f}/s ")
        self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\r\x1b[K")  # erase the line so the report starts clean
            self._stream.flush()
