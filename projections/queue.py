"""The transaction queue: every case's current status, for agencies' work queues and SLA ages."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from projections.batching import BatchingProjection
from projections.queue_view import QueueRow, QueueView, StatusChange
from projections.reader import ErasedEvent

STATUS_AFTER = {
    "ReviewStarted": "IN_REVIEW",
    "InformationRequested": "INFORMATION_REQUESTED",
    "InformationProvided": "IN_REVIEW",
    "ReviewResumed": "IN_REVIEW",
    "Approved": "APPROVED",
    "Rejected": "REJECTED",
    "Completed": "COMPLETED",
    "Withdrawn": "WITHDRAWN",
}
DECISIONS = ("Approved", "Rejected")


class TransactionQueue(BatchingProjection[QueueView]):
    name = "queue"

    def __init__(self, view: QueueView) -> None:
        super().__init__(view)
        self._new: list[QueueRow] = []
        self._changes: list[StatusChange] = []

    def write(self, tracking: Tracking) -> None:
        self.view.record(self._new, self._changes, tracking)
        self._new, self._changes = [], []

    def collect(self, domain_event: Any, tracking: Tracking) -> None:
        new, changes = self._new, self._changes
        if not isinstance(domain_event, ErasedEvent):
            topic = str(type(domain_event).TOPIC)
            aggregate, _, name = topic.rpartition(".")
            if aggregate == "ledger.Transaction":
                transaction_id = str(domain_event.originator_id)
                if name == "Submitted":
                    new.append(
                        QueueRow(
                            transaction_id,
                            domain_event.reference,
                            domain_event.service_code,
                            domain_event.agency,
                            domain_event.citizen_id,
                            "SUBMITTED",
                            domain_event.at,
                            None,
                        )
                    )
                elif name in STATUS_AFTER:
                    decided = domain_event.at if name in DECISIONS else None
                    changes.append(StatusChange(transaction_id, STATUS_AFTER[name], decided))
