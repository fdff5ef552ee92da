"""The notification log as read models see it: domain events, with erased ones kept visible.

`ProjectionRunner` builds its source application from environment variables alone, so the
mapper finds the public keyring through `CIVITAS_KEYS_DIR` (no private key is needed to read).
An event whose payload was erased arrives as an `ErasedEvent`, so a read model can still show
that something happened, and replaying the log never stops at an erasure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent

from ledger.keyring import EntrySigner, KeyFolder
from ledger.mapper import PayloadErased, SignedMapper
from ledger.store import LOG_NAME, LedgerStore

KEYS_DIR_VARIABLE = "CIVITAS_KEYS_DIR"
VERIFY_VARIABLE = "CIVITAS_VERIFY_ON_READ"


@dataclass(frozen=True)
class ErasedEvent:
    originator_id: UUID
    originator_version: int
    topic: str
    timestamp: datetime


class ReadingMapper(SignedMapper):
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            return super().to_domain_event(stored_event)
        except PayloadErased:
            signed = self.open(stored_event)
            return ErasedEvent(
                UUID(str(stored_event.originator_id)),
                stored_event.originator_version,
                stored_event.topic,
                datetime.fromisoformat(signed.entry.at).astimezone(UTC),
            )


class LedgerEvents(Application[UUID]):
    """The shared log, decoded, for projections."""

    name = LOG_NAME

    def construct_mapper(self) -> Mapper[UUID]:
        keys_dir = Path(self.env.get(KEYS_DIR_VARIABLE) or "civitas-data/keys")
        signer = EntrySigner(KeyFolder(keys_dir), lambda: datetime.now(UTC))
        verify = (self.env.get(VERIFY_VARIABLE) or "yes").lower() not in ("no", "false", "0")
        transcoder = LedgerStore.construct_transcoder()
        return ReadingMapper(transcoder, signer, verify_on_read=verify)
