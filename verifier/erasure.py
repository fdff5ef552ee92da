"""Which payloads may be erased, and the operator's re-anchorings, judged over the whole log.

Erasure (GDPR art. 17) is the one way a payload may leave the log, and it is narrow
(docs/erasure.md): a citizen's own events before their ``identity.Citizen.Erased``, the
``Claimed`` payload of their national identifier's claim before its ``Released``, and their
sessions' ``Refreshed`` payloads before the session's ``Revoked``. An erased payload anywhere
else, a transaction's say, is an insider deleting what the log recorded, and fails the
``erasure`` check. Closing events come after the payloads they erase, so erased entries wait
for the end of the log to be judged: memory is one small tuple per erased entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from verifier.report import Report

CHECK = "erasure"
CITIZEN_PREFIX = "identity.Citizen."
CITIZEN_ERASED = "identity.Citizen.Erased"
# An erasable entry type (other than a citizen's own) -> the event on its stream that erases it.
CLOSED_BY = {
    "identity.NationalIdentifierClaim.Claimed": "identity.NationalIdentifierClaim.Released",
    "identity.Session.Refreshed": "identity.Session.Revoked",
}
CLOSING_TYPES = frozenset({CITIZEN_ERASED, *CLOSED_BY.values()})

Marked = tuple[int, str, str, int]  # (leaf, type, stream, version)


def closing_type(entry_type: str) -> str | None:
    """The event that may erase an entry of this type, on the same stream; None: never erased."""
    if entry_type.startswith(CITIZEN_PREFIX):
        return CITIZEN_ERASED
    return CLOSED_BY.get(entry_type)


class ErasureAudit:
    """Collects erased entries and closing events in log order; `finish` judges them."""

    def __init__(self) -> None:
        self._erased: list[Marked] = []
        self._closed: dict[tuple[str, str], int] = {}  # (stream, closing type) -> highest version

    def add(self, erased: Iterable[Marked], closings: Iterable[Marked]) -> None:
        self._erased.extend(erased)
        for _, kind, stream, version in closings:
            key = (stream, kind)
            self._closed[key] = max(version, self._closed.get(key, 0))

    def finish(self, report: Report) -> None:
        check = report.check(CHECK)
        for leaf, kind, stream, version in self._erased:
            closer = closing_type(kind)
            if closer is None:
                check.fail(
                    f"the payload of {kind} (stream {stream}, version {version}) was erased, but "
                    "only a citizen's data is ever erased: the payload was deleted",
                    index=leaf,
                )
            elif self._closed.get((stream, closer), 0) <= version:
                check.fail(
                    f"the payload of {kind} (stream {stream}, version {version}) was erased, but "
                    f"no {closer} follows it on that stream: the payload was deleted",
                    index=leaf,
                )
            else:
                check.passed()


def reanchor_notes(reanchors: Iterable[tuple[int, bytes | None]]) -> list[str]:
    """One plain note per `ledger.LogAnchor.ReAnchored` entry: an auditor must read why."""
    notes = []
    for leaf, payload in reanchors:
        try:
            fields = json.loads(payload) if payload is not None else {}
        except ValueError:
            fields = {}
        if not isinstance(fields, dict):
            fields = {}
        notes.append(
            f"RE-ANCHORED at leaf {leaf:,}: the sequencer had refused to sign a tree that did not "
            f"extend its checkpoint of {fields.get('old_size', '?')} entries, and operator "
            f"{fields.get('operator', '?')!s} let it sign the tree of "
            f"{fields.get('new_size', '?')} entries instead, saying: "
            f"{fields.get('reason', '(payload unavailable)')!s}. Entries that checkpoint covered "
            "may have been removed or changed: compare with a checkpoint you kept"
        )
    return notes
