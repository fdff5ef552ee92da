"""The notification log as read models see it: domain events, with erased ones kept visible.

`ProjectionRunner` builds its source application from environment variables alone, so the
mapper finds the public keyring through `CIVITAS_KEYS_DIR` (no private key is needed to read).
An event whose payload was erased arrives as an `ErasedEvent`, so a read model can still show
that something happened, and replaying the log never stops at an erasure.

A projection that names its `topics` reads only those events from the database, and decodes
(verifies, deserialises) only those. Its tracked position must still reach the end of the log,
or it would lag forever behind events it skips (and `ProjectionService.catch_up` would wait for
a position it never records): after each read the subscription also delivers a `Passed` marker
at the log's head, the highest notification the filtered read has looked past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    Mapper,
    Notification,
    ShutDown,
    StoredEvent,
    Subscription,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresSubscription,
)

from ledger.keyring import EntrySigner, KeyFolder
from ledger.mapper import PayloadErased, SignedMapper
from ledger.store import (
    LOG_NAME,
    POSTGRES_EVENTS_TABLE,
    LedgerStore,
    PollingSubscription,
    SQLiteLedgerRecorder,
)

KEYS_DIR_VARIABLE = "CIVITAS_KEYS_DIR"
VERIFY_VARIABLE = "CIVITAS_VERIFY_ON_READ"


@dataclass(frozen=True)
class ErasedEvent:
    originator_id: UUID
    originator_version: int
    topic: str
    timestamp: datetime


@dataclass(frozen=True)
class Passed:
    """No event: the log was read up to this marker's position, past events nobody asked for."""

    topic = ""


# Never a stored topic: stable event names are `<package>.<Aggregate>.<Event>`.
PASSED_TOPIC = "(passed)"


def topic_of(event: Any) -> str:
    """The stable name of what a subscription delivered: an event, an erased one, or `Passed`."""
    if isinstance(event, ErasedEvent | Passed):
        return event.topic
    return str(type(event).TOPIC)


class ReadingMapper(SignedMapper):
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.topic == PASSED_TOPIC:
            return Passed()
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

    def construct_recorder(self) -> ApplicationRecorder:
        # Reads only: the node has created the tables (projections run with CREATE_TABLE=no).
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        if isinstance(datastore, PostgresDatastore):
            return ReadingPostgresRecorder(datastore, events_table_name=POSTGRES_EVENTS_TABLE)
        return ReadingSQLiteRecorder(datastore)


class PositionedPull(ListenNotifySubscription[ApplicationRecorder]):
    """A filtered read that also reports how far it looked (see the module's docstring).

    The head is read before the filtered select and bounds it: every notification up to the
    head is committed when the head is seen (SQLite has one writer; `eventsourcing` locks the
    PostgreSQL events table while it inserts), so the select misses none of them."""

    def _pull(self) -> None:
        if not self._topics:
            super()._pull()
            return
        while not self._has_been_stopped:
            self._has_been_notified.clear()
            start = self._last_notification_id or 0
            head = self._recorder.max_notification_id() or 0
            if head <= start:
                break
            notifications = list(
                self._recorder.select_notifications(
                    start=start,
                    limit=self._select_limit,
                    stop=head,
                    topics=self._topics,
                    inclusive_of_start=False,
                )
            )
            complete = len(notifications) < self._select_limit
            reached = head if complete else notifications[-1].id
            if not notifications or notifications[-1].id < reached:
                notifications.append(_passed(reached))
            try:
                self._notifications_queue.put(notifications)
            except ShutDown:
                break
            self._last_notification_id = reached
            if complete:
                break


def _passed(notification_id: int) -> Notification:
    return Notification(
        id=notification_id,
        originator_id=UUID(int=0),
        originator_version=0,
        topic=PASSED_TOPIC,
        state=b"",
    )


class PositionedPolling(PositionedPull, PollingSubscription):
    pass


class PositionedListening(PositionedPull, PostgresSubscription):
    pass


class ReadingSQLiteRecorder(SQLiteLedgerRecorder):
    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PositionedPolling(recorder=self, gt=gt, topics=topics)


class ReadingPostgresRecorder(PostgresApplicationRecorder):
    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PositionedListening(recorder=self, gt=gt, topics=topics)
