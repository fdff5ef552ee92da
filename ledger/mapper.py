"""The persistence boundary where every event becomes a signed ledger entry.

`SignedMapper` replaces `eventsourcing`'s `Mapper`: no code path can store an event without
passing through `to_stored_event`, which signs it, and reading one back checks the signature,
the payload hash and that the entry belongs to the row it was read from (so a row copied onto
another stream or version is caught too).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache, partial
from typing import Any, NamedTuple, cast
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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


# A save of at least this many events is signed on every core; below it, threads cost more
# than they save.
PARALLEL_SIGNING_FROM = 64
SIGNING_THREADS = os.cpu_count() or 1


class _UnsignedEntry(NamedTuple):
    stream: UUID
    version: int
    topic: str
    entry: Entry
    payload: bytes
    digest: bytes

    def signing_input(self) -> bytes:
        return SIGNATURE_CONTEXT + self.entry.canonical_bytes()

    def stored(self, signature: bytes) -> StoredEvent:
        return StoredEvent(
            originator_id=self.stream,
            originator_version=self.version,
            topic=self.topic,
            state=pack(self.entry, signature, self.payload, self.digest),
        )


@cache
def _signing_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SIGNING_THREADS, thread_name_prefix="signing")


def _sign_each(private_key: Ed25519PrivateKey, signing_inputs: list[bytes]) -> list[bytes]:
    return [private_key.sign(signing_input) for signing_input in signing_inputs]


class SignedMapper(Mapper[UUID]):
    def __init__(
        self, transcoder: Transcoder, signer: EntrySigner, *, verify_on_read: bool = True
    ) -> None:
        super().__init__(transcoder=transcoder)
        self.signer = signer
        self.verify_on_read = verify_on_read
        self._stream_texts: dict[UUID, str] = {}
        self._signed_ahead = threading.local()  # each thread's save, signed by `signing_ahead`

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        ahead: dict[int, StoredEvent] | None = getattr(self._signed_ahead, "stored", None)
        if ahead is not None and (stored := ahead.pop(id(domain_event), None)) is not None:
            return stored
        kid, private_key = self.signer.current_key()
        unsigned = self._unsigned(domain_event, kid)
        return unsigned.stored(private_key.sign(unsigned.signing_input()))

    @contextmanager
    def signing_ahead(self, domain_events: Sequence[DomainEventProtocol[UUID]]) -> Iterator[None]:
        """Sign a large save's entries on every core before it is stored: `cryptography` lets
        go of the GIL while it signs (two threads sign 1.9 times as fast as one here), and the
        signatures are most of a batch's cost (benchmarks/append.py)."""
        if len(domain_events) < PARALLEL_SIGNING_FROM or SIGNING_THREADS < 2:
            yield
            return
        kid, private_key = self.signer.current_key()
        unsigned = [self._unsigned(event, kid) for event in domain_events]
        size = -(-len(unsigned) // SIGNING_THREADS)
        chunks = [
            [u.signing_input() for u in unsigned[start : start + size]]
            for start in range(0, len(unsigned), size)
        ]
        signed = _signing_pool().map(partial(_sign_each, private_key), chunks)
        signatures = [signature for chunk in signed for signature in chunk]
        self._signed_ahead.stored = {
            id(event): u.stored(signature)
            for event, u, signature in zip(domain_events, unsigned, signatures, strict=True)
        }
        try:
            yield
        finally:
            self._signed_ahead.stored = None

    def _unsigned(self, domain_event: DomainEventProtocol[UUID], kid: str) -> _UnsignedEntry:
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
        entry = Entry(
            actor=actor if actor.isascii() else nfc(actor),
            at=format_timestamp(moment),
            kid=kid,
            payload_sha256=digest.hex(),
            stream=self._stream_text(stream),
            type=topic,
            version=version,
        )
        return _UnsignedEntry(stream, version, topic, entry, payload, digest)

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
