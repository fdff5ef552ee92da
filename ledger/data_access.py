"""The data-access log: every time an agency reads a citizen's data, with the purpose it stated.

Each access is an aggregate of its own (one `Recorded` event), so recording never contends with
anything else, and the citizen sees it in their timeline, as Estonia's data tracker shows it.
"""

from __future__ import annotations

from eventsourcing.domain import event

from ledger.errors import FieldViolation, InvalidInput
from ledger.events import LedgerAggregate
from ledger.store import LedgerApplication

MAX_PURPOSE = 500


class DataAccess(LedgerAggregate):
    @event("Recorded")
    def __init__(
        self, citizen_id: str, agency: str, purpose: str, resource: str, actor: str
    ) -> None:
        self.citizen_id = citizen_id
        self.agency = agency
        self.purpose = purpose
        self.resource = resource


def check_purpose(purpose: str) -> None:
    """A read states why: checked before anything is looked up, so that a missing purpose is
    refused alike whether or not the thing asked for exists."""
    if not purpose.strip() or len(purpose) > MAX_PURPOSE:
        raise InvalidInput(
            [FieldViolation("purpose", f"state why the data is read (1-{MAX_PURPOSE} characters)")]
        )


class DataAccessLog(LedgerApplication):
    def record(self, citizen_id: str, agency: str, purpose: str, resource: str, actor: str) -> None:
        """Record the read before the data is returned: no record, no data. A lookup that found
        nobody is recorded too, with no citizen (`citizen_id` ""): who asked, and why."""
        check_purpose(purpose)
        self.save(DataAccess(citizen_id, agency, purpose.strip(), resource, actor=actor))
