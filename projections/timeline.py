"""The citizen timeline: every sign-in, session, authenticator change, transaction step and data
access that concerns a citizen, in ledger order, without personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking

from projections.batching import BatchingProjection
from projections.reader import ErasedEvent
from projections.timeline_view import Link, TimelineItem, TimelineView

AUTHENTICATOR_EVENTS = {
    "PasswordSet": "password set",
    "TotpEnrolled": "authenticator app enrolled",
    "PasskeyRegistered": "passkey registered",
    "RecoveryCodesIssued": "recovery codes issued",
    "AuthenticatorRemoved": "authenticator removed",
    "FactorUnlocked": "factor unlocked",
}
# Which fields of an event a citizen sees (never secrets, never sealed personal data).
SIGN_IN_FIELDS = ("methods", "acr", "reason", "relying_service", "client_address", "user_agent")
TRANSACTION_FIELDS = ("service_code", "reference", "agency", "reason", "note")


class CitizenTimeline(BatchingProjection[TimelineView]):
    name = "timeline"

    def __init__(self, view: TimelineView) -> None:
        super().__init__(view)
        self._items: list[TimelineItem] = []
        self._links: list[Link] = []
        self._pending_links: dict[str, str] = {}

    def collect(self, domain_event: Any, tracking: Tracking) -> None:
        topic = _topic_of(domain_event)
        aggregate, _, event_name = topic.rpartition(".")
        handler = _HANDLERS.get(aggregate)
        if handler is not None:
            links: list[Link] = []
            handler(self, domain_event, event_name, tracking, self._items, links)
            self._links.extend(links)
            self._pending_links.update((link.subject, link.citizen_id) for link in links)

    def write(self, tracking: Tracking) -> None:
        self.view.record(self._items, self._links, tracking)
        self._items, self._links, self._pending_links = [], [], {}

    def _linked_citizen(self, event: Any) -> str | None:
        """The citizen an event concerns: named by it (a first event), or linked to its stream."""
        named = getattr(event, "citizen_id", None)
        if named:
            return str(named)
        subject = str(event.originator_id)
        return self._pending_links.get(subject) or self.view.citizen_of(subject)

    def _item(
        self, event: Any, tracking: Tracking, citizen_id: str, kind: str, summary: dict[str, Any]
    ) -> TimelineItem:
        return TimelineItem(
            citizen_id=citizen_id,
            position=tracking.notification_id,
            at=event.timestamp,
            kind=kind,
            type=_topic_of(event),
            stream=str(event.originator_id),
            version=event.originator_version,
            summary=summary,
        )

    def _citizen(
        self,
        event: Any,
        name: str,
        tracking: Tracking,
        items: list[TimelineItem],
        links: list[Link],
    ) -> None:
        citizen_id = str(event.originator_id)
        if isinstance(event, ErasedEvent):
            items.append(self._item(event, tracking, citizen_id, "identity", {"erased": True}))
        elif name in ("AuthenticationSucceeded", "AuthenticationFailed"):
            summary = {f: getattr(event, f) for f in SIGN_IN_FIELDS if hasattr(event, f)}
            summary["outcome"] = "success" if name == "AuthenticationSucceeded" else "failure"
            items.append(self._item(event, tracking, citizen_id, "sign_in", summary))
        elif name in AUTHENTICATOR_EVENTS:
            items.append(
                self._item(
                    event,
                    tracking,
                    citizen_id,
                    "authenticator",
                    {"change": AUTHENTICATOR_EVENTS[name]},
                )
            )
        elif name in ("Registered", "Erased"):
            items.append(
                self._item(event, tracking, citizen_id, "identity", {"change": name.lower()})
            )

    def _session(
        self,
        event: Any,
        name: str,
        tracking: Tracking,
        items: list[TimelineItem],
        links: list[Link],
    ) -> None:
        citizen_id = self._linked_citizen(event)
        if citizen_id is None:
            return
        if name == "Started":
            links.append(Link(str(event.originator_id), citizen_id))
            summary = {"acr": event.acr, "amr": event.amr, "relying_service": event.relying_service}
        else:
            summary = {"change": name.lower()}
        items.append(self._item(event, tracking, citizen_id, "session", summary))

    def _transaction(
        self,
        event: Any,
        name: str,
        tracking: Tracking,
        items: list[TimelineItem],
        links: list[Link],
    ) -> None:
        citizen_id = self._linked_citizen(event)
        if citizen_id is None:
            return
        if name == "Submitted":
            links.append(Link(str(event.originator_id), citizen_id))
        summary = {f: getattr(event, f) for f in TRANSACTION_FIELDS if hasattr(event, f)}
        summary["step"] = name
        items.append(self._item(event, tracking, citizen_id, "transaction", summary))

    def _data_access(
        self,
        event: Any,
        name: str,
        tracking: Tracking,
        items: list[TimelineItem],
        links: list[Link],
    ) -> None:
        summary = {"agency": event.agency, "purpose": event.purpose, "resource": event.resource}
        items.append(self._item(event, tracking, str(event.citizen_id), "data_access", summary))


def _topic_of(event: Any) -> str:
    return event.topic if isinstance(event, ErasedEvent) else str(type(event).TOPIC)


Handler = Callable[[CitizenTimeline, Any, str, Tracking, list[TimelineItem], list[Link]], None]
_HANDLERS: dict[str, Handler] = {
    "identity.Citizen": CitizenTimeline._citizen,
    "identity.Session": CitizenTimeline._session,
    "ledger.Transaction": CitizenTimeline._transaction,
    "ledger.DataAccess": CitizenTimeline._data_access,
}
