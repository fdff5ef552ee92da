"""Signed snapshots: an aggregate's state at one version, so loading it costs the same whatever
its history (docs/decisions/signed-snapshots.md).

A snapshot is not a ledger entry: it lives in its own table, outside the notification log, the
Merkle tree and the export, and nobody outside the service ever reads it. But it is read as if
it were the events it stands for, so it is as tamper-evident as they are: signed with the
current entry key under its own context string (so a snapshot signature can never pass for an
entry's), and bound to its stream, version and bytes. One that does not verify, or that names
a type not allowed a snapshot, is passed over, and the aggregate is rebuilt from its signed
events: an insider who edits a snapshot to reset a lockout or add a factor gains nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import (
    AggregateRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    EventStore,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

from ledger.keyring import EntrySigner, verify_entry_signature

LOG = logging.getLogger(__name__)

# Separates snapshot signatures from entry signatures made with the same key (ledger-format.md
# section 2 uses "civitas/entry/v1\n").
SNAPSHOT_CONTEXT = b"civitas/snapshot/v1\n"
_MAGIC = b"CSN1"
_SIGNATURE_LENGTH = 64
_SNAPSHOT_TOPIC = get_topic(Snapshot)


class TamperedSnapshot(Exception):
    """A stored snapshot does not verify, or names a type that may not be snapshotted."""


def signing_input(stream: UUID, version: int, payload: bytes) -> bytes:
    """What a snapshot's signature covers: where it belongs and the hash of its bytes, so a
    snapshot moved to another stream or version, or edited, no longer verifies."""
    digest = hashlib.sha256(payload).hexdigest()
    return SNAPSHOT_CONTEXT + f"{stream}\n{version}\n{digest}\n".encode()


class _DataclassTranscoding(Transcoding):
    """A dataclass value inside an aggregate's state (a citizen's `Factor`), field by field."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = "dataclass:" + get_topic(cls)
        self._fields = tuple(field.name for field in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)  # only the dataclasses `allow` was given


class SnapshotMapper(Mapper[UUID]):
    """Turns a `Snapshot` into a signed row and back, checking the signature on the way back."""

    def __init__(self, signer: EntrySigner) -> None:
        self.json = JSONTranscoder()
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            self.json.register(transcoding)
        super().__init__(transcoder=self.json)
        self.signer = signer
        self._allowed: dict[str, type] = {}

    def allow(self, aggregate: type, values: tuple[type, ...] = ()) -> None:
        """Let *aggregate* be snapshotted, with *values* the dataclasses its state holds.

        Only allowed types are ever rebuilt from a snapshot: a row naming any other topic is
        refused before anything is imported for it."""
        self._allowed[get_topic(aggregate)] = aggregate
        for value in values:
            transcoding = _DataclassTranscoding(value)
            if transcoding.name not in self.json.names:
                self.json.register(transcoding)

    def allows(self, aggregate: type) -> bool:
        return get_topic(aggregate) in self._allowed

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        snapshot = cast(Snapshot, domain_event)
        payload = self.transcoder.encode(
            {"topic": snapshot.topic, "state": snapshot.state, "timestamp": snapshot.timestamp}
        )
        kid, private_key = self.signer.current_key()
        signature = private_key.sign(
            signing_input(snapshot.originator_id, snapshot.originator_version, payload)
        )
        kid_bytes = kid.encode()
        frame = _MAGIC + bytes([len(kid_bytes)]) + kid_bytes + signature + payload
        return StoredEvent(
            snapshot.originator_id, snapshot.originator_version, _SNAPSHOT_TOPIC, frame
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        stream = UUID(str(stored_event.originator_id))
        version = stored_event.originator_version
        payload = self._verified_payload(stream, version, bytes(stored_event.state))
        data = self.transcoder.decode(payload)
        if data.get("topic") not in self._allowed:
            raise TamperedSnapshot(f"snapshot v{version} of {stream}: type not allowed")
        return Snapshot(
            originator_id=stream,
            originator_version=version,
            timestamp=data["timestamp"],
            topic=data["topic"],
            state=data["state"],
        )

    def _verified_payload(self, stream: UUID, version: int, frame: bytes) -> bytes:
        where = f"snapshot v{version} of {stream}"
        if not frame.startswith(_MAGIC) or len(frame) < len(_MAGIC) + 1:
            raise TamperedSnapshot(f"{where}: not a signed snapshot")
        start = len(_MAGIC) + 1
        kid_end = start + frame[len(_MAGIC)]
        kid = frame[start:kid_end].decode("utf-8", "replace")
        signature = frame[kid_end : kid_end + _SIGNATURE_LENGTH]
        payload = frame[kid_end + _SIGNATURE_LENGTH :]
        key = self.signer.public_key(kid)
        if key is None or not verify_entry_signature(
            key, signature, signing_input(stream, version, payload)
        ):
            raise TamperedSnapshot(f"{where}: signature does not verify")
        return payload


class SnapshotStore(EventStore[UUID]):
    """The snapshots of every ledger application, in one table beside the events."""

    mapper: SnapshotMapper

    # Each aggregate allowed a snapshot gets one after every this many of its events: loading
    # it then replays at most this many (each signature-checked). 20 keeps a sign-in's load
    # about as cheap at 10,000 prior sign-ins as at 10, for one extra write in 20 saves
    # (benchmarks/growth.py).
    EVERY: ClassVar[int] = 20

    def __init__(self, signer: EntrySigner, recorder: AggregateRecorder) -> None:
        super().__init__(mapper=SnapshotMapper(signer), recorder=recorder)

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        """The latest snapshot as `eventsourcing`'s repository asks for it, or none when it
        does not verify: the aggregate is then rebuilt from its events, which are checked."""
        stored = self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        snapshots = []
        for row in stored:
            try:
                snapshots.append(self.mapper.to_domain_event(row))
            # Refused, or not readable by this release (a JSON or transcoding error).
            except (TamperedSnapshot, ValueError, KeyError, TypeError) as error:
                LOG.warning("snapshot passed over, replaying events instead: %s", error)
                return iter(())
        return iter(snapshots)

    def take(self, aggregate: Any) -> None:
        """Store the state of *aggregate* as just saved. A snapshot only saves work: one that
        another replica stored first, or that fails to store, leaves loading correct."""
        try:
            self.put([Snapshot.take(aggregate)])
        except IntegrityError:
            pass
        except Exception:
            LOG.exception("snapshot of %s v%s not stored", aggregate.id, aggregate.version)

    def due(self, aggregate: Any, first_new_version: int) -> bool:
        """Whether the save that took *aggregate* from `first_new_version - 1` to its version
        crossed a multiple of `EVERY` (a save may store several of its events)."""
        return self.mapper.allows(type(aggregate)) and (
            aggregate.version // self.EVERY > (first_new_version - 1) // self.EVERY
        )
