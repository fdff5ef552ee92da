"""The data-access log: every time an agency reads a citizen's data, with the purpose it stated.

Each access is an aggregate of its own (one `Recorded` event), so recording never contends with
anything else, and the citizen sees it in their timeline, as Estonia's data tracker shows it.
"""

from __future__ import annotations

from eventsourcing.domain import event

from ledger.errors import FieldViolation, InvalidInput
from ledger.events import LedgerAggregate
from ledger.sealing import CitizenFields, Unsealed
from ledger.store import LedgerApplication, LedgerStore

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


class DataAccessLog(LedgerApplication):
    def __init__(self, store: LedgerStore, fields: CitizenFields | None = None) -> None:
        super().__init__(store)
        # A purpose may name the person ("… for Jane Doe's appeal"): sealed with their key.
        self._fields: CitizenFields = fields or Unsealed()

    def record(self, citizen_id: str, agency: str, purpose: str, resource: str, actor: str) -> None:
        """Record the read before the data is returned: no record, no data. The purpose of a
        read of an erased citizen (who has no data left to read) is not kept: it cannot be
        sealed for them any more, and nobody could be shown it."""
        if not purpose.strip() or len(purpose) > MAX_PURPOSE:
            raise InvalidInput(
                [
                    FieldViolation(
                        "purpose", f"state why the data is read (1-{MAX_PURPOSE} characters)"
                    )
                ]
            )
        sealed = self._fields.seal(citizen_id, "purpose", purpose.strip()) or ""
        self.save(DataAccess(citizen_id, agency, sealed, resource, actor=actor))
