"""The citizen timeline: every sign-in, session, authenticator change, transaction step and data
access that concerns a citizen, in ledger order, without personal data in clear: what may name
or locate the person (a sign-in's address and user agent, a case's note and reasons, a purpose)
is in its events sealed with the citizen's key, and stays so here (HistoryService opens it for
the citizen). Once a citizen is erased, all their rows are deleted but the erasure's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

from ledger.transactions import LIFECYCLE, lifecycle_topic
from projections.batching import BatchingProjection, Reducer
from projections.reader import ErasedEvent, topic_of
from projections.timeline_view import Link, TimelineItem, TimelineView

AUTHENTICATOR_EVENTS = {
    "PasswordSet": "password set",
    "TotpEnrolled": "authenticator app enrolled",
    "PasskeyRegistered": "passkey registered",
    "RecoveryCodesIssued": "recovery codes issued",
    "AuthenticatorRemoved": "authenticator removed",
    "FactorUnlocked": "factor unlocked",
}
# A citizen's events that show only once erased (a half-finished enrolment is no change, nor is
# the passkey user handle chosen with the first one).
UNSHOWN_CITIZEN_EVENTS = (
    "TotpEnrollmentStarted",
    "PasskeyRegistrationStarted",
    "PasskeyUserHandleAssigned",
)
# Which fields of an event a citizen sees (never secrets, never sealed personal data).
SIGN_IN_FIELDS = ("methods", "acr", "reason", "relying_service", "client_address", "user_agent")
TRANSACTION_FIELDS = ("service_code", "reference", "agency", "reason", "note")
CITIZEN = "identity.Citizen."


class CitizenTimeline(BatchingProjection[TimelineView]):
    name = "timeline"

    def __init__(self, view: TimelineView) -> None:
        super().__init__(view)
        self._items: list[TimelineItem] = []
        self._links: list[Link] = []
        self._pending_links: dict[str, str] = {}
        self._scrubbed: list[str] = []
        self._erased: set[str] | None = None  # read from the view when first needed

    def write(self, tracking: Tracking) -> None:
        self.view.record(self._items, self._links, tracking, self._scrubbed)
        self._items, self._links, self._pending_links, self._scrubbed = [], [], {}, []

    def _is_erased(self, citizen_id: str) -> bool:
        if self._erased is None:
            self._erased = self.view.erased_citizens()
        return citizen_id in self._erased

    def _linked_citizen(self, event: Any) -> str | None:
        """The citizen an event concerns: named by it (a first event), or linked to its stream."""
        named = getattr(event, "citizen_id", None)
        if named:
            return str(named)
        subject = str(event.originator_id)
        return self._pending_links.get(subject) or self.view.citizen_of(subject)

    def _link(self, event: Any, citizen_id: str) -> None:
        link = Link(str(event.originator_id), citizen_id)
        self._links.append(link)
        self._pending_links[link.subject] = link.citizen_id

    def _add(
        self, event: Any, tracking: Tracking, citizen_id: str, kind: str, summary: dict[str, Any]
    ) -> None:
        # Nothing more is shown of an erased citizen: there is nobody to show it to.
        if not self._is_erased(citizen_id):
            self._append(event, tracking, citizen_id, kind, summary)

    def _append(
        self, event: Any, tracking: Tracking, citizen_id: str, kind: str, summary: dict[str, Any]
    ) -> None:
        self._items.append(
            TimelineItem(
                citizen_id=citizen_id,
                position=tracking.notification_id,
                at=event.timestamp,
                kind=kind,
                type=topic_of(event),
                stream=str(event.originator_id),
                version=event.originator_version,
                summary=summary,
            )
        )

    # --- the citizen's own stream ---------------------------------------------------------------

    def erased(self, event: ErasedEvent, tracking: Tracking) -> None:
        # Only citizens' payloads are ever erased (IdentityApplication.erase).
        if event.topic.startswith(CITIZEN):
            self._add(event, tracking, str(event.originator_id), "identity", {"erased": True})

    def _citizen_erased(self, event: Any, tracking: Tracking) -> None:
        """Every row of the citizen goes, earlier ones too (their purposes, notes, sign-ins):
        only the fact of the erasure stays."""
        citizen_id = str(event.originator_id)
        if self._is_erased(citizen_id):
            return
        assert self._erased is not None
        self._erased.add(citizen_id)
        self._items = [item for item in self._items if item.citizen_id != citizen_id]
        self._scrubbed.append(citizen_id)
        self._append(event, tracking, citizen_id, "identity", {"change": "erased"})

    def _signed_in(self, event: Any, tracking: Tracking) -> None:
        self._sign_in(event, tracking, "success")

    def _sign_in_failed(self, event: Any, tracking: Tracking) -> None:
        self._sign_in(event, tracking, "failure")

    def _sign_in(self, event: Any, tracking: Tracking, outcome: str) -> None:
        summary = {f: getattr(event, f) for f in SIGN_IN_FIELDS if hasattr(event, f)}
        summary["outcome"] = outcome
        self._add(event, tracking, str(event.originator_id), "sign_in", summary)

    def _authenticator_changed(self, event: Any, tracking: Tracking) -> None:
        change = AUTHENTICATOR_EVENTS[type(event).__name__]
        self._add(event, tracking, str(event.originator_id), "authenticator", {"change": change})

    def _identity_changed(self, event: Any, tracking: Tracking) -> None:
        change = type(event).__name__.lower()
        self._add(event, tracking, str(event.originator_id), "identity", {"change": change})

    def _unshown(self, event: Any, tracking: Tracking) -> None:
        pass

    # --- streams linked to a citizen ------------------------------------------------------------

    def _session_started(self, event: Any, tracking: Tracking) -> None:
        citizen_id = self._linked_citizen(event)
        if citizen_id is not None:
            self._link(event, citizen_id)
            summary = {"acr": event.acr, "amr": event.amr, "relying_service": event.relying_service}
            self._add(event, tracking, citizen_id, "session", summary)

    def _session_changed(self, event: Any, tracking: Tracking) -> None:
        citizen_id = self._linked_citizen(event)
        if citizen_id is not None:
            summary = {"change": type(event).__name__.lower()}
            self._add(event, tracking, citizen_id, "session", summary)

    def _transaction_submitted(self, event: Any, tracking: Tracking) -> None:
        citizen_id = self._linked_citizen(event)
        if citizen_id is not None:
            self._link(event, citizen_id)
            self._add_step(event, tracking, citizen_id)

    def _transaction_stepped(self, event: Any, tracking: Tracking) -> None:
        citizen_id = self._linked_citizen(event)
        if citizen_id is not None:
            self._add_step(event, tracking, citizen_id)

    def _add_step(self, event: Any, tracking: Tracking, citizen_id: str) -> None:
        summary = {f: getattr(event, f) for f in TRANSACTION_FIELDS if hasattr(event, f)}
        summary["step"] = type(event).__name__
        self._add(event, tracking, citizen_id, "transaction", summary)

    def _data_accessed(self, event: Any, tracking: Tracking) -> None:
        summary = {"agency": event.agency, "purpose": event.purpose, "resource": event.resource}
        self._add(event, tracking, str(event.citizen_id), "data_access", summary)

    reducers: ClassVar[Mapping[str, Reducer]] = {
        CITIZEN + "Registered": _identity_changed,
        CITIZEN + "Erased": _citizen_erased,
        CITIZEN + "AuthenticationSucceeded": _signed_in,
        CITIZEN + "AuthenticationFailed": _sign_in_failed,
        **dict.fromkeys((CITIZEN + name for name in AUTHENTICATOR_EVENTS), _authenticator_changed),
        **dict.fromkeys((CITIZEN + name for name in UNSHOWN_CITIZEN_EVENTS), _unshown),
        "identity.Session.Started": _session_started,
        "identity.Session.Refreshed": _session_changed,
        "identity.Session.Revoked": _session_changed,
        lifecycle_topic("Submitted"): _transaction_submitted,
        **dict.fromkeys(
            (lifecycle_topic(name) for name in LIFECYCLE if name != "Submitted"),
            _transaction_stepped,
        ),
        "ledger.DataAccess.Recorded": _data_accessed,
    }
