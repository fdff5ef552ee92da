"""Replay of the statistics read model: sign-ins per UTC day by method and outcome, and each
case's submission and decision times, rebuilt from the entries and their payloads.

The rules, restated from verifier/README.md ("Replay") rather than taken from the writer:
- every ``identity.Citizen.AuthenticationSucceeded`` (``success``) or ``…AuthenticationFailed``
  (``failure``) counts once for each method its payload's ``methods`` lists (``none`` when the
  list is empty), on the UTC day of the entry's ``at``;
- every ``ledger.Transaction.Submitted`` opens a case row (``service_code``, its payload's
  ``at``); every ``Approved`` or ``Rejected`` sets the row's ``decided_at`` to its payload's
  ``at`` (the last decision wins; a decision of an unknown case makes a row of its own).

An erased sign-in's methods went with its payload: on its day and outcome the served counts
must hold at least what the readable entries give, plus at least one for each erased sign-in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protos.civitas.v1 import audit_pb2
from verifier.replay_rows import Mismatches, show

SIGN_IN_OUTCOMES = {"AuthenticationSucceeded": "success", "AuthenticationFailed": "failure"}
DECIDING = frozenset({"Approved", "Rejected"})
CASE_FIELDS = ("service_code", "submitted_at", "decided_at")

AuthKey = tuple[str, str, str]  # (day, method, outcome)


@dataclass(slots=True)
class CaseTimes:
    service_code: str
    submitted_at: str
    decided_at: str
    leaf: int  # where the row began: named in failures


class StatisticsReplay:
    def __init__(self) -> None:
        self.counts: Counter[AuthKey] = Counter()
        self.erased_sign_ins: Counter[tuple[str, str]] = Counter()  # (day, outcome)
        self.cases: dict[str, CaseTimes] = {}

    def sign_in(self, name: str, at: str, fields: dict[str, Any] | None) -> None:
        outcome = SIGN_IN_OUTCOMES.get(name)
        if outcome is None:
            return
        day = at[:10]
        if fields is None:
            self.erased_sign_ins[(day, outcome)] += 1
            return
        methods = fields.get("methods") or ["none"]
        for method in methods if isinstance(methods, list) else [str(methods)]:
            self.counts[(day, str(method), outcome)] += 1

    def case_step(self, leaf: int, name: str, stream: str, fields: dict[str, Any], at: str) -> None:
        """`at` is the step's payload time in the entry's form (verifier/replay.py)."""
        if name == "Submitted":
            row = self.cases.setdefault(stream, CaseTimes("", "", "", leaf))
            row.service_code = str(fields.get("service_code") or "")
            row.submitted_at = at
        elif name in DECIDING:
            self.cases.setdefault(stream, CaseTimes("", "", "", leaf)).decided_at = at

    def compare(self, served: Iterable[audit_pb2.ProjectionRows], mismatches: Mismatches) -> int:
        """Compare the served rows (after the position) with the replay's; the rows that agree."""
        served_counts: Counter[AuthKey] = Counter()
        agreed = 0
        for message in served:
            if message.HasField("position") or len(message.queue) or len(message.timeline):
                reason = "a position or other rows inside the statistics stream"
                mismatches.add(("",), None, "StreamProjection", reason)
            for row in message.statistics:
                if row.kind == "auth":
                    served_counts[(row.day, row.method, row.outcome)] += row.count
                elif row.kind == "case":
                    agreed += self._compare_case(row, mismatches)
                else:
                    mismatches.add(("",), None, "StreamProjection", f"unknown kind {row.kind!r}")
        for key, expected in self.cases.items():
            reason = "missing: the entries open or decide this case, the statistics do not"
            mismatches.add(("case", key), expected.leaf, f"statistics case {key}", reason)
        return agreed + self._compare_counts(served_counts, mismatches)

    def _compare_case(self, row: audit_pb2.StatisticsProjectionRow, mismatches: Mismatches) -> int:
        key, where = row.transaction_id, f"statistics case {row.transaction_id}"
        expected = self.cases.pop(key, None)
        if expected is None:
            reason = "extra: no Submitted or decision entry up to the position names this case"
            mismatches.add(("case", key), None, where, reason)
            return 0
        found = [
            f"{name}: served {show(getattr(row, name))}, replay {show(getattr(expected, name))}"
            for name in CASE_FIELDS
            if getattr(row, name) != getattr(expected, name)
        ]
        if found:
            mismatches.add(("case", key), expected.leaf, where, "; ".join(found))
            return 0
        return 1

    def _compare_counts(self, served: Counter[AuthKey], mismatches: Mismatches) -> int:
        agreed = 0
        groups = {(day, outcome) for day, _, outcome in (*served, *self.counts)}
        groups |= set(self.erased_sign_ins)
        for day, outcome in sorted(groups):
            erased = self.erased_sign_ins.get((day, outcome), 0)
            methods = sorted({m for d, m, o in (*served, *self.counts) if (d, o) == (day, outcome)})
            wrong = []
            for method in methods:
                key = (day, method, outcome)
                have, want = served.get(key, 0), self.counts.get(key, 0)
                if have < want or (have > want and not erased):
                    wrong.append(f"{method}: served {have}, replay {want}")
            beyond = sum(
                served[(day, m, outcome)] - self.counts[(day, m, outcome)] for m in methods
            )
            if erased and beyond < erased:
                wrong.append(f"{erased} erased sign-ins, but only {beyond} uncounted by method")
            where = f"statistics sign-ins on {day} ({outcome})"
            if wrong:
                mismatches.add(("auth", day, outcome), None, where, "; ".join(wrong))
            else:
                agreed += 1
        return agreed
