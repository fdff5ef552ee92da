"""Projections that write in batches: one transaction per batch, not per event.

A view's rows and its tracked position still commit together, so a kill loses at most the
uncommitted batch, which the next run reads again: nothing is skipped or applied twice. The
runner's loop calls `flush()` on every tick, so a quiet log is never held back for long.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

TView = TypeVar("TView", bound=TrackingRecorder)

BATCH_SIZE = 500


class BatchingProjection(Projection[TView], Generic[TView]):
    def __init__(self, view: TView) -> None:
        super().__init__(view)
        self._lock = threading.Lock()
        self._last: Tracking | None = None
        self._pending = 0

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        with self._lock:
            self.collect(domain_event, tracking)
            self._last = tracking
            self._pending += 1
            if self._pending >= BATCH_SIZE:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._last is not None:
            self.write(self._last)
            self._last, self._pending = None, 0

    @abstractmethod
    def collect(self, domain_event: Any, tracking: Tracking) -> None:
        """Turn one event into pending rows (no I/O beyond reads)."""

    @abstractmethod
    def write(self, tracking: Tracking) -> None:
        """Write the pending rows and `tracking` in one transaction, then forget them."""
