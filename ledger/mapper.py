"""The persistence boundary where every event becomes a signed ledger entry.

`SignedMapper` replaces `eventsourcing`'s `Mapper`: no code path can store an event without
passing through `to_stored_event`, which signs it, and reading one back checks the signature,
the payload hash and that the entry belongs to the row it was read from (so a row copied onto
another stream or version is caught too).
"""

from __future__ import annotations

import hashlib
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from ledger.entry import (
    SIGNATURE_CONTEXT,
    Entry,
    MalformedEntry,
    format_timestamp,
    nfc,
    parse_timestamp,
)
from ledger.envelope import MalformedEnvelope, SignedEntry, pack, unpack
from ledger.keyring import EntrySigner, verify_entry_signature


class UnattributedEvent(ValueError):
    """An event reached the store without naming its actor."""


class TamperedEntry(Exception):
    """A stored entry does not verify: its bytes were changed after they were signed."""


class PayloadErased(Exception):
    """The entry's payload was erased; only its hash remains."""


class SignedMapper(Mapper[UUID]):
    def __init__(
        self, transcoder: Transcoder, signer: EntrySigner, *, verify_on_read: bool = True
    ) -> None:
        super().__init__(transcoder=transcoder)
        self.signer = signer
        self.verify_on_read = verify_on_read
        self._stream_texts: dict[UUID, str] = {}

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        stream = state.pop("originator_id")
        version = state.pop("originator_version")
        moment = state.pop("timestamp")
        actor = state.pop("actor", None)
        if not isinstance(actor, str) or not actor:
            raise UnattributedEvent(f"{topic} has no actor; every ledger event names who caused it")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        payload = self.transcoder.encode(state)
        digest = hashlib.sha256(payload).digest()
        kid, private_key = self.signer.current_key()
        entry = Entry(
            actor=actor if actor.isascii() else nfc(actor),
            at=format_timestamp(moment),
            kid=kid,
            payload_sha256=digest.hex(),
            stream=self._stream_text(stream),
            type=topic,
            version=version,
        )
        signature = private_key.sign(SIGNATURE_CONTEXT + entry.canonical_bytes())
        return StoredEvent(
            originator_id=stream,
            originator_version=version,
            topic=topic,
            state=pack(entry, signature, payload, digest),
        )

    def _stream_text(self, stream: UUID) -> str:
        # An aggregate's events are usually saved together: its id is formatted once, not per
        # event (str(UUID) is a measurable part of the write path; benchmarks/append.py).
        text = self._stream_texts.get(stream)
        if text is None:
            if len(self._stream_texts) > 4096:
                self._stream_texts.clear()
            text = self._stream_texts[stream] = str(stream)
        return text

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        signed = self.open(stored_event)
        if signed.payload is None:
            raise PayloadErased(
                f"{stored_event.topic} v{stored_event.originator_version} "
                f"of {stored_event.originator_id} was erased"
            )
        entry = signed.entry
        cls = resolve_topic(stored_event.topic)
        state: dict[str, Any] = self.transcoder.decode(signed.payload)
        state["originator_id"] = UUID(str(stored_event.originator_id))
        state["originator_version"] = stored_event.originator_version
        state["timestamp"] = parse_timestamp(entry.at)
        state["actor"] = entry.actor
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return cast(DomainEventProtocol[UUID], domain_event)

    def open(self, stored_event: StoredEvent) -> SignedEntry:
        """The signed entry of a stored row, checked unless verification is switched off."""
        try:
            signed = unpack(
                stored_event.originator_id,
                stored_event.topic,
                stored_event.originator_version,
                stored_event.state,
            )
            if self.verify_on_read:
                self._check(stored_event, signed)
        except (MalformedEnvelope, MalformedEntry) as error:
            raise TamperedEntry(f"{_where(stored_event)}: {error}") from None
        return signed

    def _check(self, stored_event: StoredEvent, signed: SignedEntry) -> None:
        entry = signed.entry
        key = self.signer.public_key(entry.kid)
        if key is None or not key.is_valid_at(parse_timestamp(entry.at)):
            raise TamperedEntry(f"{_where(stored_event)}: no valid key {entry.kid!r} at {entry.at}")
        if not verify_entry_signature(
            key, signed.signature, SIGNATURE_CONTEXT + signed.entry_bytes
        ):
            raise TamperedEntry(f"{_where(stored_event)}: signature does not verify")
        if (
            signed.payload is not None
            and hashlib.sha256(signed.payload).hexdigest() != entry.payload_sha256
        ):
            raise TamperedEntry(f"{_where(stored_event)}: payload does not match its hash")


def _where(stored_event: StoredEvent) -> str:
    return (
        f"{stored_event.topic} v{stored_event.originator_version} of {stored_event.originator_id}"
    )
