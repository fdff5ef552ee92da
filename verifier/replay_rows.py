"""The rows a replay derives, and how the rows a service serves are held against them.

Failures are counted in full and the first ones listed by key (a case's id; a citizen and leaf),
whatever order the service streams in, so two runs over the same disagreement read the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from protos.civitas.v1 import audit_pb2
from verifier.report import MAX_LISTED, Check

QUEUE_FIELDS = (
    "reference",
    "service_code",
    "agency",
    "citizen_id",
    "status",
    "submitted_at",
    "decided_at",
)
TIMELINE_FIELDS = ("at", "kind", "type", "stream", "version", "summary")
NO_LEAF = 2**64  # sorts a row whose position is no leaf after its citizen's other rows
SHOWN_CHARACTERS = 80

Key = tuple[str, ...] | tuple[str, int]


@dataclass(slots=True)
class QueueRow:
    reference: str
    service_code: str
    agency: str
    citizen_id: str
    status: str
    submitted_at: str  # RFC 3339 UTC, six fraction digits, "Z"
    decided_at: str  # the same, or "" before a decision
    submitted_leaf: int  # where the case began: named in failures, not compared


@dataclass(frozen=True, slots=True)
class TimelineRow:
    at: str
    kind: str
    type: str
    stream: str
    version: int
    summary: Any  # a JSON object as parsed; a served summary that is no JSON stays its text


@dataclass(frozen=True, slots=True)
class ErasedItem:
    """An item whose payload was erased. Erasure deletes payloads that may have been projected
    already: the service shows the item as it was projected then (`before`, None where it was
    not shown), or, once rebuilt, as the erased placeholder."""

    placeholder: TimelineRow
    before: TimelineRow | None
    summary_complete: bool  # False: `before.summary` holds only what the entry still tells


class Mismatches:
    """Every failure counted; the first MAX_LISTED by key kept."""

    def __init__(self) -> None:
        self.count = 0
        self._kept: list[tuple[Key, int | None, str, str]] = []

    def add(self, key: Key, index: int | None, where: str, reason: str) -> None:
        self.count += 1
        self._kept.append((key, index, where, reason))
        if len(self._kept) > 4 * MAX_LISTED:
            self._trim()

    def _trim(self) -> None:
        self._kept.sort(key=lambda failure: failure[0])
        del self._kept[MAX_LISTED:]

    def report(self, check: Check) -> None:
        self._trim()
        for _, index, where, reason in self._kept:
            check.fail(reason, index=index, where=where)
        check.fail_unlisted(self.count - len(self._kept))


def show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def differences(served: object, replayed: object, names: Iterable[str]) -> list[str]:
    return [
        f"{name}: served {show(getattr(served, name))}, replay {show(getattr(replayed, name))}"
        for name in names
        if getattr(served, name) != getattr(replayed, name)
    ]


def _rows(
    kind: str, served: Iterable[audit_pb2.ProjectionRows], mismatches: Mismatches
) -> Iterator[Any]:
    """The `kind` rows of the messages after the position; anything else in them is a failure."""
    other = "timeline" if kind == "queue" else "queue"
    for message in served:
        if message.HasField("position") or len(getattr(message, other)):
            reason = f"a position or {other} rows inside the {kind} stream"
            mismatches.add(("",), None, "StreamProjection", reason)
        yield from getattr(message, kind)


def compare_queue(
    replayed: dict[str, QueueRow],
    served: Iterable[audit_pb2.ProjectionRows],
    mismatches: Mismatches,
) -> int:
    """Compare served queue rows with the replay's (which this consumes); the rows that agree."""
    seen: set[str] = set()
    agreed = 0
    for row in _rows("queue", served, mismatches):
        key, where = row.transaction_id, f"queue row {row.transaction_id}"
        expected = replayed.pop(key, None)
        if expected is None:
            reason = (
                "served twice"
                if key in seen
                else "extra: served, but no Submitted entry up to the projection's position "
                "opens this case"
            )
            mismatches.add((key,), None, where, reason)
            continue
        seen.add(key)
        found = differences(row, expected, QUEUE_FIELDS)
        if found:
            mismatches.add((key,), expected.submitted_leaf, where, "; ".join(found))
        else:
            agreed += 1
    for key, expected in replayed.items():
        mismatches.add(
            (key,),
            expected.submitted_leaf,
            f"queue row {key}",
            "missing: the entries open this case, but the service does not serve it",
        )
    return agreed


def _served_item(row: audit_pb2.TimelineProjectionRow) -> TimelineRow:
    try:
        summary: Any = json.loads(row.summary_json)
    except ValueError:
        summary = row.summary_json
    return TimelineRow(row.at, row.kind, row.type, row.stream, row.version, summary)


def _erased_differences(served: TimelineRow, expected: ErasedItem) -> list[str]:
    if served == expected.placeholder:
        return []
    before = expected.before
    if before is not None:
        if expected.summary_complete:
            found = differences(served, before, TIMELINE_FIELDS)
        else:  # a sign-in: its outcome is in the entry's type, the rest went with the payload
            found = differences(served, before, TIMELINE_FIELDS[:-1])
            known = before.summary.items()
            if not isinstance(served.summary, dict) or not known <= served.summary.items():
                found.append(f"summary: served {show(served.summary)}, replay {show(dict(known))}")
        if not found:
            return []
    return [
        "the payload was erased; as a rebuilt placeholder: "
        + "; ".join(differences(served, expected.placeholder, TIMELINE_FIELDS))
    ]


def _is_erasure(expected: TimelineRow | ErasedItem) -> bool:
    row = expected.placeholder if isinstance(expected, ErasedItem) else expected
    return row.type == "identity.Citizen.Erased"


def compare_timeline(
    replayed: dict[tuple[str, int], TimelineRow | ErasedItem],
    unknown_leaves: set[int],
    served: Iterable[audit_pb2.ProjectionRows],
    mismatches: Mismatches,
    scrubbed: set[str] | frozenset[str] = frozenset(),
) -> tuple[int, int]:
    """Compare served timeline rows with the replay's (which this consumes): (the rows that
    agree, how many of them reflect erased payloads). The rows of `scrubbed` citizens (erased)
    may be missing, all but their `Erased` row."""
    seen: set[tuple[str, int]] = set()
    agreed = erased = 0
    for row in _rows("timeline", served, mismatches):
        citizen = row.citizen_id
        if not row.HasField("leaf_index"):
            where = f"timeline row of citizen {citizen} at position {row.notification_id}"
            reason = "extra: the row's position is no entry of the log"
            mismatches.add((citizen, NO_LEAF), None, where, reason)
            continue
        key, leaf = (citizen, row.leaf_index), row.leaf_index
        where = f"timeline row of citizen {citizen} at leaf {leaf}"
        expected = replayed.pop(key, None)
        if expected is None:
            if leaf in unknown_leaves:  # an erased item whose citizen the entries do not name
                agreed, erased = agreed + 1, erased + 1
                continue
            reason = (
                "served twice"
                if key in seen
                else "extra: the entries show this citizen no such item at this leaf"
            )
            mismatches.add(key, leaf, where, reason)
            continue
        seen.add(key)
        item = _served_item(row)
        if isinstance(expected, ErasedItem):
            erased += 1
            found = _erased_differences(item, expected)
        else:
            found = differences(item, expected, TIMELINE_FIELDS)
        if found:
            mismatches.add(key, leaf, where, "; ".join(found))
        else:
            agreed += 1
    for key, expected in replayed.items():
        if isinstance(expected, ErasedItem) and expected.before is None:
            agreed, erased = agreed + 1, erased + 1  # not shown before the erasure: may stay so
            continue
        if key[0] in scrubbed and not _is_erasure(expected):
            agreed, erased = agreed + 1, erased + 1  # scrubbed with the citizen's erasure
            continue
        where = f"timeline row of citizen {key[0]} at leaf {key[1]}"
        reason = "missing: the entries show this citizen an item the service does not serve"
        mismatches.add(key, key[1], where, reason)
    return agreed, erased
