"""The persistence boundary where every event becomes a signed ledger entry.

`SignedMapper` replaces `eventsourcing`'s `Mapper`: no code path can store an event without
passing through `to_stored_event`, which signs it, and reading one back checks the signature,
the payload hash and that the entry belongs to the row it was read from (so a row copied onto
another stream or version is caught too).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache, lru_cache, partial
from typing import Any, NamedTuple, cast
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from ledger.entry import (
    MAX_ENTRY_BYTES,
    SIGNATURE_CONTEXT,
    MalformedEntry,
    format_timestamp,
    new_entry_bytes,
    nfc,
    parse_timestamp,
)
from ledger.envelope import MalformedEnvelope, SignedEntry, pack, unpack
from ledger.keyring import EntrySigner, verify_entry_signature
from ledger.verified_entries import VERIFIED, VerifiedEntries


class UnattributedEvent(ValueError):
    """An event reached the store without naming its actor."""


class OversizedEntry(ValueError):
    """An entry longer than a tlog-tiles entry bundle can carry (`MAX_ENTRY_BYTES`)."""


class TamperedEntry(Exception):
    """A stored entry does not verify: its bytes were changed after they were signed."""


class PayloadErased(Exception):
    """The entry's payload was erased; only its hash remains."""


# A save of at least this many events is signed on every core; below it, threads cost more
# than they save.
PARALLEL_SIGNING_FROM = 64
SIGNING_THREADS = os.cpu_count() or 1

# An aggregate's events are usually saved together: its id is formatted once, not per event
# (str(UUID) is a measurable part of the write path; benchmarks/append.py).
_stream_text = lru_cache(maxsize=4096)(str)


class _EventClass(NamedTuple):
    topic: str
    class_version: int


@cache
def _event_class(cls: type) -> _EventClass:
    return _EventClass(get_topic(cls), getattr(cls, "class_version", 1))


class _UnsignedEntry(NamedTuple):
    stream: UUID
    version: int
    topic: str
    actor: str
    at: str
    kid: str
    digest: bytes
    payload: bytes
    entry_bytes: bytes

    def signing_input(self) -> bytes:
        return SIGNATURE_CONTEXT + self.entry_bytes

    def stored(self, signature: bytes) -> StoredEvent:
        frame = pack(self.actor, self.at, self.kid, self.digest, signature, self.payload)
        return StoredEvent(self.stream, self.version, self.topic, frame)


@cache
def _signing_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SIGNING_THREADS, thread_name_prefix="signing")


def _sign_each(private_key: Ed25519PrivateKey, signing_inputs: list[bytes]) -> list[bytes]:
    return [private_key.sign(signing_input) for signing_input in signing_inputs]


@lru_cache(maxsize=64)
def _public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw public key of one of the signer's (cached) private keys."""
    return private_key.public_key().public_bytes_raw()


class SignedMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        signer: EntrySigner,
        *,
        verify_on_read: bool = True,
        verified: VerifiedEntries = VERIFIED,
    ) -> None:
        super().__init__(transcoder=transcoder)
        self.signer = signer
        self.verify_on_read = verify_on_read
        # Entries signed or checked by this process: read back, their signatures are not
        # checked again (ledger/verified_entries.py says when that is sound).
        self.verified = verified

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        kid, private_key = self.signer.current_key()
        unsigned = self._unsigned(domain_event, kid)
        signing_input = unsigned.signing_input()
        signature = private_key.sign(signing_input)
        self.verified.remember(signature, signing_input, _public_bytes(private_key))
        return unsigned.stored(signature)

    def to_stored_events(
        self, domain_events: Sequence[DomainEventProtocol[UUID]]
    ) -> list[StoredEvent]:
        """A save's events, signed; a large save's on every core: `cryptography` lets go of the
        GIL while it signs (two threads sign 1.9 times as fast as one here), and signatures are
        most of a batch's cost (benchmarks/append.py)."""
        if len(domain_events) < PARALLEL_SIGNING_FROM or SIGNING_THREADS < 2:
            return [self.to_stored_event(event) for event in domain_events]
        kid, private_key = self.signer.current_key()
        unsigned = [self._unsigned(event, kid) for event in domain_events]
        size = -(-len(unsigned) // SIGNING_THREADS)
        inputs = [u.signing_input() for u in unsigned]
        chunks = [inputs[start : start + size] for start in range(0, len(inputs), size)]
        signed = _signing_pool().map(partial(_sign_each, private_key), chunks)
        signatures = [signature for chunk in signed for signature in chunk]
        public_key = _public_bytes(private_key)
        for signing_input, signature in zip(inputs, signatures, strict=True):
            self.verified.remember(signature, signing_input, public_key)
        return [u.stored(signature) for u, signature in zip(unsigned, signatures, strict=True)]

    def _unsigned(self, domain_event: DomainEventProtocol[UUID], kid: str) -> _UnsignedEntry:
        # Runs for every event written. Measured in place, between one save's fsync and the
        # next, each step costs about 2.5 times what it does in a tight loop, so the steps are
        # few (benchmarks/append.py).
        event_class = _event_class(type(domain_event))
        state = domain_event.__dict__.copy()
        stream = state.pop("originator_id")
        version = state.pop("originator_version")
        del state["timestamp"]  # eventsourcing's wall clock: the entry's time is `_instant`'s
        actor = state.pop("actor", None)
        if not isinstance(actor, str) or not actor:
            raise UnattributedEvent(
                f"{event_class.topic} has no actor; every ledger event names who caused it"
            )
        if not actor.isascii():
            actor = nfc(actor)
        if event_class.class_version > 1:
            state["class_version"] = event_class.class_version
        payload = self.transcoder.encode(state)
        digest = hashlib.sha256(payload).digest()
        at = format_timestamp(self._instant(state))
        entry_bytes = new_entry_bytes(
            actor, at, kid, digest.hex(), _stream_text(stream), event_class.topic, version
        )
        if len(entry_bytes) > MAX_ENTRY_BYTES:
            raise OversizedEntry(f"{event_class.topic}: a {len(entry_bytes)}-byte entry")
        return _UnsignedEntry(
            stream, version, event_class.topic, actor, at, kid, digest, payload, entry_bytes
        )

    def _instant(self, state: dict[str, Any]) -> datetime:
        """When an event happened, from the one injected clock: the instant it states itself
        (a transaction step's `at`, which its application read from that clock and decided
        with), else the signer's reading of it, so the entry's `at` and a payload never differ."""
        own = state.get("at")
        return own if isinstance(own, datetime) else self.signer.now()

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
        signing_input = SIGNATURE_CONTEXT + signed.entry_bytes
        public_key = key.public_key.public_bytes_raw()
        if not self.verified.known(signed.signature, signing_input, public_key):
            if not verify_entry_signature(key, signed.signature, signing_input):
                raise TamperedEntry(f"{_where(stored_event)}: signature does not verify")
            self.verified.remember(signed.signature, signing_input, public_key)
        if (
            signed.payload is not None
            and hashlib.sha256(signed.payload).hexdigest() != entry.payload_sha256
        ):
            raise TamperedEntry(f"{_where(stored_event)}: payload does not match its hash")


def _where(stored_event: StoredEvent) -> str:
    return (
        f"{stored_event.topic} v{stored_event.originator_version} of {stored_event.originator_id}"
    )
