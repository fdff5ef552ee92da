"""The citizen timeline: every sign-in, session, authenticator change, transaction step and data
access that concerns a citizen, in ledger order, without personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

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


class CitizenTimeline(Projection[TimelineView]):
    name = "timeline"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        topic = _topic_of(domain_event)
        aggregate, _, event_name = topic.rpartition(".")
        handler = _HANDLERS.get(aggregate)
        items: list[TimelineItem] = []
        links: list[Link] = []
        if handler is not None:
            handler(self, domain_event, event_name, tracking, items, links)
        self.view.record(items, links, tracking)

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
        session_id = str(event.originator_id)
        citizen_id = getattr(event, "citizen_id", None) or self.view.citizen_of(session_id)
        if citizen_id is None:
            return
        if name == "Started":
            links.append(Link(session_id, citizen_id))
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
        transaction_id = str(event.originator_id)
        citizen_id = getattr(event, "citizen_id", None) or self.view.citizen_of(transaction_id)
        if citizen_id is None:
            return
        if name == "Submitted":
            links.append(Link(transaction_id, str(citizen_id)))
        summary = {f: getattr(event, f) for f in TRANSACTION_FIELDS if hasattr(event, f)}
        summary["step"] = name
        items.append(self._item(event, tracking, str(citizen_id), "transaction", summary))

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
