"""Erasing a citizen (GDPR art. 17): what is recorded, and what is destroyed afterwards.

Recorded, in one save, so that either all of it or none of it happened:
- the citizen's `Erased`;
- `Revoked` on every session of theirs (`ERASURE_REASON`): every token of theirs is dead at
  once, and a watch it holds open ends (civitas/api/rechecked_stream.py);
- `Released` on their national-identifier claim: the identifier no longer finds them, and the
  same person may register again as a new citizen.

Destroyed, once that is stored:
- their data key (crypto-shredding): every field sealed with it, wherever it was copied (their
  personal data, TOTP seed, the address and user agent of each sign-in, the notes, reasons and
  purposes about them), is noise from then on;
- the payloads of their own earlier events, of the claim's `Claimed` (which named them) and of
  their sessions' refreshes (which, before refreshes were sealed, carried a client's address in
  clear): the entries, signatures and proofs stay and still verify;
- the old bytes of all that in the database files (`LedgerStore.reclaim_space`).

The citizen timeline drops the citizen's rows when it reads the `Erased` event
(projections/timeline.py). docs/erasure.md says what remains, and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from eventsourcing.domain import Aggregate

from identity.citizen import Citizen
from identity.national_id_claim import NationalIdentifierClaim, current_claim
from identity.personal_data import DataKeyStore
from identity.session import Session
from ledger.mapper import PayloadErased
from ledger.secure_delete import DATA_KEY_TABLE
from ledger.store import LedgerStore

ERASURE_REASON: Final = "citizen_erased"
REFRESHED_TOPIC: Final = f"{Session.TOPIC}.Refreshed"


@dataclass(frozen=True)
class Erasure:
    """The aggregates one erasure changes, each with its new event pending."""

    citizen: Citizen
    sessions: list[Session]
    claim: NationalIdentifierClaim | None

    def aggregates(self) -> list[Aggregate]:
        claim: list[Aggregate] = [] if self.claim is None else [self.claim]
        return [self.citizen, *self.sessions, *claim]


def erase(citizen: Citizen, load: Callable[[UUID], object], reason: str, actor: str) -> Erasure:
    """Record the erasure on the citizen, their sessions and their claim (not yet saved)."""
    citizen.erase(reason, actor=actor)
    sessions = [s for s in (_session(load, i) for i in citizen.session_ids) if s is not None]
    for session in sessions:
        session.revoke(ERASURE_REASON, actor=actor)
    _, claim = current_claim(load, citizen.lookup_hash)
    if claim is not None and claim.citizen_id == str(citizen.id):
        claim.release(actor=actor)
    else:
        claim = None
    return Erasure(citizen, sessions, claim)


def destroy(erasure: Erasure, data_keys: DataKeyStore, store: LedgerStore) -> None:
    """Once the erasure is stored: the key, the payloads, and their old bytes on disk."""
    citizen = erasure.citizen
    data_keys.destroy(citizen.id)  # crypto-shredding: every copy of a sealed field
    store.erase_payloads(citizen.id, below_version=citizen.version)
    if erasure.claim is not None:
        store.erase_payloads(erasure.claim.id, below_version=erasure.claim.version)
    for session in erasure.sessions:
        store.erase_payloads(session.id, below_version=session.version, topic=REFRESHED_TOPIC)
    store.reclaim_space(DATA_KEY_TABLE)


def _session(load: Callable[[UUID], object], session_id: str) -> Session | None:
    try:
        session = load(UUID(session_id))
    except PayloadErased:  # its refreshes were erased with an earlier erasure
        return None
    return session if isinstance(session, Session) else None
