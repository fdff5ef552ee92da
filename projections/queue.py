"""The transaction queue: every case's current status, for agencies' work queues and SLA ages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

from ledger.transactions import LIFECYCLE, lifecycle_topic
from projections.batching import BatchingProjection, Reducer
from projections.queue_view import QueueRow, QueueView, StatusChange


class TransactionQueue(BatchingProjection[QueueView]):
    name = "queue"

    def __init__(self, view: QueueView) -> None:
        super().__init__(view)
        self._new: list[QueueRow] = []
        self._changes: list[StatusChange] = []

    def write(self, tracking: Tracking) -> None:
        self.view.record(self._new, self._changes, tracking)
        self._new, self._changes = [], []

    def _submitted(self, event: Any, tracking: Tracking) -> None:
        self._new.append(
            QueueRow(
                str(event.originator_id),
                event.reference,
                event.service_code,
                event.agency,
                event.citizen_id,
                LIFECYCLE["Submitted"].enters.value,
                event.at,
                None,
            )
        )

    def _stepped(self, event: Any, tracking: Tracking) -> None:
        transition = LIFECYCLE[type(event).__name__]
        decided = event.at if transition.decides else None
        self._changes.append(
            StatusChange(str(event.originator_id), transition.enters.value, decided)
        )

    reducers: ClassVar[Mapping[str, Reducer]] = {
        lifecycle_topic("Submitted"): _submitted,
        **dict.fromkeys(
            (lifecycle_topic(name) for name in LIFECYCLE if name != "Submitted"), _stepped
        ),
    }
