"""Replay: the transaction queue and the citizen timeline, rebuilt from the entries' payloads.

``civitas-verify live --replay`` feeds every entry, in log order, to `Replay`, which derives both
read models up to the tree size the service says its rows reflect; `compare` then walks the rows
the service serves and reports missing, extra and differing ones. The derivation rules are
restated from verifier/README.md ("Replay"), not taken from the writer's projections, so a bug in
either shows up as a difference.

Memory is O(rows): one small record per case and per timeline item, plus a map from each session
and case to its citizen. Served rows are compared as they arrive and never gathered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from protos.civitas.v1 import audit_pb2
from verifier.replay_rows import (
    QUEUE_FIELDS,
    ErasedItem,
    Mismatches,
    QueueRow,
    TimelineRow,
    compare_queue,
    compare_timeline,
)
from verifier.replay_statistics import StatisticsReplay
from verifier.report import Report

QUEUE, TIMELINE, STATISTICS = "queue", "timeline", "statistics"
CHECK_OF = {QUEUE: "replay_queue", TIMELINE: "replay_timeline", STATISTICS: "replay_statistics"}

# The queue: the status a case is in after each step, and which steps are decisions.
STATUS_AFTER = {
    "ReviewStarted": "IN_REVIEW",
    "InformationRequested": "INFORMATION_REQUESTED",
    "InformationProvided": "IN_REVIEW",
    "ReviewResumed": "IN_REVIEW",
    "Approved": "APPROVED",
    "Rejected": "REJECTED",
    "Completed": "COMPLETED",
    "Withdrawn": "WITHDRAWN",
}
DECISIONS = frozenset({"Approved", "Rejected"})

# The timeline: what a citizen is shown of each event (never secrets, never sealed data).
SIGN_IN_OUTCOMES = {"AuthenticationSucceeded": "success", "AuthenticationFailed": "failure"}
SIGN_IN_FIELDS = ("methods", "acr", "reason", "relying_service", "client_address", "user_agent")
# Security events, each its own kind: event name -> (kind, change); the summary adds who
# caused it (the entry's actor) and these payload fields where present.
SECURITY_EVENTS = {
    "PasswordSet": ("factor_added", "password set"),
    "TotpEnrolled": ("factor_added", "authenticator app enrolled"),
    "PasskeyRegistered": ("factor_added", "passkey registered"),
    "RecoveryCodesIssued": ("factor_added", "recovery codes issued"),
    "AuthenticatorRemoved": ("factor_removed", "authenticator removed"),
    "FactorLocked": ("factor_locked", "factor locked after repeated failures"),
    "FactorUnlocked": ("factor_unlocked", "factor unlocked"),
    "ActivationCodeIssued": ("activation", "activation code issued"),
    "ActivationCodeUsed": ("activation", "activation code used"),
    "RecoveryStarted": ("recovery_started", "account recovery started"),
    "RecoveryCancelled": ("recovery_cancelled", "account recovery cancelled"),
    "RecoveryCompleted": ("recovery_completed", "account recovery completed"),
}
SECURITY_FIELDS = (
    "method",
    "reason",
    "expires_at",
    "used_for",
    "evidence_reference",
    "effective_at",
    "cancelled_by",
)
IDENTITY_CHANGES = ("Registered", "Erased")
SESSION_FIELDS = ("acr", "amr", "relying_service")
TRANSACTION_FIELDS = ("service_code", "reference", "agency", "reason", "note")
DATA_ACCESS_FIELDS = ("agency", "purpose", "resource")


class PayloadError(ValueError):
    """A payload is not the JSON object the replay reads."""


def decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"payload is not JSON: {error}") from None
    if not isinstance(fields, dict):
        raise PayloadError("payload is not a JSON object")
    return fields


def payload_time(value: object) -> str:
    """A payload time (``{"_type_": "datetime_iso", "_data_": "<ISO 8601>"}``) in the entry's
    ``at`` form: UTC, six fraction digits, "Z"."""
    if not (isinstance(value, dict) and value.get("_type_") == "datetime_iso"):
        raise PayloadError(f"not a tagged datetime_iso value: {value!r}")
    try:
        moment = datetime.fromisoformat(str(value["_data_"]))
    except (KeyError, ValueError):
        raise PayloadError(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise PayloadError(f"a time without its offset: {value!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise PayloadError(f"{name} is not a string: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class _Event:
    leaf: int
    aggregate: str  # "ledger.Transaction"
    name: str  # "Submitted"
    type: str
    stream: str
    version: int
    at: str
    actor: str
    fields: dict[str, Any] | None  # None: the payload was erased


class Replay:
    """The read models rebuilt from entries fed in log order, each up to its own tree size
    (None: that read model is not replayed)."""

    def __init__(
        self,
        queue_size: int | None,
        timeline_size: int | None,
        statistics_size: int | None = None,
    ) -> None:
        self.sizes = {QUEUE: queue_size, TIMELINE: timeline_size, STATISTICS: statistics_size}
        self.statistics = StatisticsReplay()
        self.queue: dict[str, QueueRow] = {}
        self.timeline: dict[tuple[str, int], TimelineRow | ErasedItem] = {}
        self.unknown_citizen_leaves: set[int] = set()  # erased items whose citizen is unknown
        self.scrubbed_citizens: set[str] = set()  # erased: their rows but `Erased` may be gone
        self._citizen_of: dict[str, str] = {}  # session or case id -> citizen id
        self.mismatches = {name: Mismatches() for name in CHECK_OF}

    def add(self, leaf: int, entry: str, payload: bytes | None) -> None:
        """Fold in the entry at `leaf` (entries must come in log order)."""
        due = [name for name, size in self.sizes.items() if size is not None and leaf < size]
        if not due:
            return
        try:
            header = json.loads(entry)
            aggregate, _, event_name = str(header["type"]).rpartition(".")
            if aggregate not in _TIMELINE_RULES:
                return  # service accounts and the like: in neither read model
            event = _Event(
                leaf,
                aggregate,
                event_name,
                header["type"],
                header["stream"],
                header["version"],
                header["at"],
                str(header.get("actor", "")),
                None if payload is None else decode_payload(payload),
            )
        except PayloadError as error:
            for name in due:
                self.mismatches[name].add(("", leaf), leaf, f"leaf {leaf}", str(error))
            return
        except (ValueError, KeyError, TypeError):
            return  # not an entry at all: the entry_format check reports it
        for name in due:
            try:
                if name == QUEUE:
                    self._queue(event)
                elif name == STATISTICS:
                    self._statistics(event)
                else:
                    _TIMELINE_RULES[aggregate](self, event)
            except PayloadError as error:
                self.mismatches[name].add(("", leaf), leaf, f"leaf {leaf}", str(error))

    # --- the queue: one row per case --------------------------------------------------------

    def _queue(self, event: _Event) -> None:
        if event.aggregate != "ledger.Transaction" or event.fields is None:
            return  # an erased step says nothing about the case
        fields = event.fields
        if event.name == "Submitted":
            reference, service, agency, citizen = (_text(fields, f) for f in QUEUE_FIELDS[:4])
            submitted_at = payload_time(fields.get("at"))
            self.queue[event.stream] = QueueRow(
                reference, service, agency, citizen, "SUBMITTED", submitted_at, "", event.leaf
            )
        elif event.name in STATUS_AFTER:
            row = self.queue.get(event.stream)
            if row is not None:  # a step of an unknown case changes no row
                row.status = STATUS_AFTER[event.name]
                if event.name in DECISIONS:
                    row.decided_at = payload_time(fields.get("at"))

    # --- the statistics: counts and times, never who (verifier/replay_statistics.py) ---------

    def _statistics(self, event: _Event) -> None:
        if event.aggregate == "identity.Citizen":
            self.statistics.sign_in(event.name, event.at, event.fields)
        elif event.aggregate == "ledger.Transaction" and event.fields is not None:
            self._case_times(event, event.fields)

    def _case_times(self, event: _Event, fields: dict[str, Any]) -> None:
        if event.name == "Submitted" or event.name in DECISIONS:
            at = payload_time(fields.get("at"))
            self.statistics.case_step(event.leaf, event.name, event.stream, fields, at)

    # --- the timeline: one row per event a citizen may see ----------------------------------

    def _item(self, citizen: str, event: _Event, kind: str, summary: dict[str, Any]) -> None:
        row = TimelineRow(event.at, kind, event.type, event.stream, event.version, summary)
        self.timeline[(citizen, event.leaf)] = row

    def _linked(self, event: _Event) -> str | None:
        named = None if event.fields is None else event.fields.get("citizen_id")
        return str(named) if named else self._citizen_of.get(event.stream)

    def _citizen(self, event: _Event) -> None:
        shown = _shown_of_citizen(event)
        if event.name == "Erased":
            self.scrubbed_citizens.add(event.stream)
        if event.fields is None:
            self._erased_citizen_item(event, shown)
        elif shown is not None:
            kind, summary = shown
            fields = event.fields
            if kind == "sign_in":
                summary = {f: fields[f] for f in SIGN_IN_FIELDS if f in fields} | summary
            elif event.name in SECURITY_EVENTS:
                summary = summary | {
                    f: _shown_value(fields[f]) for f in SECURITY_FIELDS if fields.get(f) is not None
                }
            self._item(event.stream, event, kind, summary)

    def _erased_citizen_item(self, event: _Event, shown: tuple[str, dict[str, Any]] | None) -> None:
        # Erasure deletes payloads that may have been projected already: the service shows such
        # an item as it was projected before the erasure, or, after a rebuild, as a placeholder.
        before = None
        if shown is not None:
            kind, summary = shown
            before = TimelineRow(event.at, kind, event.type, event.stream, event.version, summary)
        placeholder = TimelineRow(
            event.at, "identity", event.type, event.stream, event.version, {"erased": True}
        )
        self.timeline[(event.stream, event.leaf)] = ErasedItem(
            placeholder,
            before,
            summary_complete=event.name not in SIGN_IN_OUTCOMES
            and event.name not in SECURITY_EVENTS,
        )

    def _session(self, event: _Event) -> None:
        citizen = self._linked(event)
        if citizen is None:
            return
        fields = event.fields
        if fields is None:  # Civitas never erases sessions; what it showed cannot be known
            self.unknown_citizen_leaves.add(event.leaf)
            return
        kind = "session"
        if event.name == "Started":
            self._citizen_of.setdefault(event.stream, citizen)
            summary = {field: fields.get(field) for field in SESSION_FIELDS}
        elif event.name == "Revoked":  # a security event of its own kind
            kind = "session_revoked"
            summary = {"change": "revoked", "reason": fields.get("reason"), "by": event.actor}
        else:
            summary = {"change": event.name.lower()}
        self._item(citizen, event, kind, summary)

    def _transaction(self, event: _Event) -> None:
        citizen = self._linked(event)
        if citizen is None:
            return
        if event.name == "Submitted":
            self._citizen_of.setdefault(event.stream, citizen)
        fields = event.fields or {}
        summary = {field: fields[field] for field in TRANSACTION_FIELDS if field in fields}
        self._item(citizen, event, "transaction", {**summary, "step": event.name})

    def _data_access(self, event: _Event) -> None:
        if event.fields is None:  # Civitas never erases these; the citizen is unknown
            self.unknown_citizen_leaves.add(event.leaf)
            return
        citizen = _text(event.fields, "citizen_id")
        if not citizen:  # a lookup that found nobody: in no one's history
            return
        summary = {field: event.fields.get(field) for field in DATA_ACCESS_FIELDS}
        self._item(citizen, event, "data_access", summary)

    # --- comparison -------------------------------------------------------------------------

    def compare(
        self, name: str, served: Iterable[audit_pb2.ProjectionRows], report: Report
    ) -> None:
        """Compare the rows the service streams (after its position message) with the replay."""
        check = report.check(CHECK_OF[name])
        mismatches = self.mismatches[name]
        if name == QUEUE:
            passed = compare_queue(self.queue, served, mismatches)
        elif name == STATISTICS:
            passed = self.statistics.compare(served, mismatches)
        else:
            passed, erased = compare_timeline(
                self.timeline,
                self.unknown_citizen_leaves,
                served,
                mismatches,
                scrubbed=self.scrubbed_citizens,
            )
            if erased:
                report.notes.append(
                    f"replay: {erased:,} timeline rows reflect erased payloads; what the entries "
                    "still show of them was compared"
                )
        check.passed(passed)
        mismatches.report(check)


def _shown_of_citizen(event: _Event) -> tuple[str, dict[str, Any]] | None:
    """The kind of item a citizen's own event makes, and the summary its entry alone gives."""
    name = event.name
    if name in SIGN_IN_OUTCOMES:
        return "sign_in", {"outcome": SIGN_IN_OUTCOMES[name]}
    if name in SECURITY_EVENTS:
        kind, change = SECURITY_EVENTS[name]
        return kind, {"change": change, "by": event.actor}
    if name in IDENTITY_CHANGES:
        return "identity", {"change": name.lower()}
    return None


def _shown_value(value: object) -> object:
    """A payload value as the timeline shows it: a time as its ISO 8601 text."""
    if isinstance(value, dict) and value.get("_type_") == "datetime_iso":
        return value.get("_data_")
    return value


_TIMELINE_RULES = {
    "identity.Citizen": Replay._citizen,
    "identity.Session": Replay._session,
    "ledger.Transaction": Replay._transaction,
    "ledger.DataAccess": Replay._data_access,
}
