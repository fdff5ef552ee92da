"""One citizen per national identifier, and the identifier free again once they are erased.

A claim is an aggregate whose id is derived from the identifier's keyed hash, so two
registrations of one person collide on version 1 in the store (optimistic concurrency), with no
index to keep. Erasure releases the claim (`Released`) and then erases the claim's earlier
payloads, which named the citizen: the identifier no longer leads to them. The same person may
then register again as a new citizen, with a claim of the next generation: generation 0 is the
id every ledger already has, generation n > 0 is derived from `<hash>/<n>`.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from ledger.events import LedgerAggregate
from ledger.mapper import PayloadErased

NATIONAL_ID_NAMESPACE = uuid5(NAMESPACE_URL, "civitas:national-identifier")


class NationalIdentifierClaim(LedgerAggregate):
    """Makes a national identifier unique: its id is derived from the identifier's keyed hash."""

    @event("Claimed")
    def __init__(self, id: UUID, lookup_hash: str, citizen_id: str, actor: str) -> None:
        # The id (`claim_id`) is not in the payload: it is the entry's stream.
        self.citizen_id = citizen_id
        self.released = False

    def release(self, actor: str) -> None:
        if not self.released:
            self._released(actor=actor)

    @event("Released")
    def _released(self, actor: str) -> None:
        self.released = True


def claim_id(lookup_hash: str, generation: int = 0) -> UUID:
    name = lookup_hash if generation == 0 else f"{lookup_hash}/{generation}"
    return uuid5(NATIONAL_ID_NAMESPACE, name)


# Reads one aggregate by id (the application's repository.get).
Load = Callable[[UUID], object]


def current_claim(load: Load, lookup_hash: str) -> tuple[int, NationalIdentifierClaim | None]:
    """(the generation a new claim would take, the claim that holds the identifier now or None).

    Claims of erased citizens are released: their payloads are erased, so they no longer load.
    """
    generation = 0
    while True:
        try:
            claim = load(claim_id(lookup_hash, generation))
        except AggregateNotFoundError:
            return generation, None
        except PayloadErased:
            generation += 1
            continue
        if isinstance(claim, NationalIdentifierClaim) and not claim.released:
            return generation, claim
        generation += 1
