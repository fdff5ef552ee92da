"""Reading government cases: the record of an agency's reading, queues and live updates.

Writes go through `ledger.transactions`; reads come here. Who may read a case is the API
layer's check (`civitas.api.authorization`: an agency its own cases, a citizen their own),
asked before the case is returned. An agency states a purpose, recorded before the case is
returned (the citizen sees it in their history). Queues come from the queue projection, never
from a replay of events on the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger.catalogue import ServiceCatalogue
from ledger.data_access import DataAccessLog
from ledger.errors import InvalidInput
from ledger.transactions import (
    CaseCheck,
    TransactionsApplication,
    TransactionStatus,
    TransactionView,
)
from projections.queue_view import QueueRow, QueueView

DEFAULT_PAGE = 50
MAX_PAGE = 500
STATUSES = tuple(status.value for status in TransactionStatus)
OPEN = ("SUBMITTED", "IN_REVIEW", "INFORMATION_REQUESTED")


@dataclass(frozen=True)
class QueuedCase:
    row: QueueRow
    age_days: int
    sla_days: int
    overdue: bool


class Cases:
    def __init__(
        self,
        transactions: TransactionsApplication,
        data_access: DataAccessLog,
        queue: QueueView,
        catalogue: ServiceCatalogue,
        clock: Callable[[], datetime],
    ) -> None:
        self._transactions = transactions
        self._data_access = data_access
        self._queue = queue
        self._catalogue = catalogue
        self._clock = clock

    def read_as_agency(
        self, may_read: CaseCheck, agency: str, transaction_id: str, purpose: str, actor: str
    ) -> TransactionView:
        view = self.read(may_read, transaction_id)
        resource = f"transaction {view.reference}"
        self._data_access.record(view.citizen_id, agency, purpose, resource, actor=actor)
        return view

    def read(self, may_read: CaseCheck, transaction_id: str) -> TransactionView:
        """The case, when the API layer's check lets the caller read it."""
        view = self._transactions.get(transaction_id)
        may_read(view)
        return view

    def queue(
        self, agency: str, statuses: Sequence[str], page_size: int, page_token: str
    ) -> tuple[list[QueuedCase], str]:
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            first = unknown[0][:40]  # cut short: the message must not grow with the input
            raise InvalidInput.of(
                "statuses", f"unknown status {first!r}; known: {', '.join(STATUSES)}"
            )
        size = page_size or DEFAULT_PAGE
        if not 0 < size <= MAX_PAGE:
            raise InvalidInput.of("page_size", f"between 1 and {MAX_PAGE}")
        if len(page_token) > 64:
            raise InvalidInput.of(
                "page_token", "not a token this service gave", reason="INVALID_PAGE_TOKEN"
            )
        rows = self._queue.queue(agency, statuses, page_token, size + 1)
        now = self._clock()
        cases = [self._queued(row, now) for row in rows[:size]]
        return cases, rows[size - 1].transaction_id if len(rows) > size else ""

    def _queued(self, row: QueueRow, now: datetime) -> QueuedCase:
        age = max(0, (now - row.submitted_at).days)
        sla = self._catalogue.get(row.service_code).sla_days
        return QueuedCase(row, age, sla, overdue=row.status in OPEN and age > sla)
