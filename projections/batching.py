"""Projections that write in batches: one transaction per batch, not per event.

A view's rows and its tracked position still commit together, so a kill loses at most the
uncommitted batch, which the next run reads again: nothing is skipped or applied twice. The
runner's loop calls `flush()` on every tick, so a quiet log is never held back for long.

Each projection declares its reducer table, `{stable event name: handler}`; its `topics` are
the table's keys, so the subscription reads and decodes only those events (projections/reader.py
keeps the tracked position moving past the others).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from projections.reader import ErasedEvent, topic_of

TView = TypeVar("TView", bound=TrackingRecorder)

BATCH_SIZE = 500


Reducer = Callable[[Any, Any, Tracking], None]  # (projection, event, tracking)


class BatchingProjection(Projection[TView], Generic[TView]):
    reducers: ClassVar[Mapping[str, Reducer]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.topics = tuple(cls.reducers)

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

    def collect(self, domain_event: Any, tracking: Tracking) -> None:
        """Turn one event into pending rows (no I/O beyond reads)."""
        reducer = self.reducers.get(topic_of(domain_event))
        if reducer is None:
            return  # a `Passed` marker: only the position moves
        if isinstance(domain_event, ErasedEvent):
            self.erased(domain_event, tracking)
        else:
            reducer(self, domain_event, tracking)

    def erased(self, event: ErasedEvent, tracking: Tracking) -> None:
        """An event of this projection's topics whose payload was erased: nothing to read."""

    @abstractmethod
    def write(self, tracking: Tracking) -> None:
        """Write the pending rows and `tracking` in one transaction, then forget them."""
