"""What the verifier found: one result per check, with counts, first failures and their meaning."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MAX_LISTED = 20  # first failures kept per check; the count is always complete

# name -> (what is checked, what a failure means). The meanings are for an auditor, not a developer.
CHECKS: dict[str, tuple[str, str]] = {
    "keyring": (
        "the keyring is well-formed",
        "the keyring cannot be read, so no signature can be checked against it",
    ),
    "bundle_format": (
        "every line of entries.jsonl is an export record",
        "a line is not the JSON object the export format describes: the file was damaged or edited",
    ),
    "receipt_format": (
        "the receipt has the published fields",
        "the receipt file is damaged or was edited",
    ),
    "index": (
        "each entry's index equals its position in the log",
        "an entry was removed, inserted, duplicated or moved: the order is not the log's",
    ),
    "entry_format": (
        "entries are canonical JSON (RFC 8785) with the fixed fields",
        "the entry bytes are not what a writer signs: edited after signing, or a broken writer",
    ),
    "signature": (
        "each entry's Ed25519 signature verifies under the keyring key its kid names",
        "the entry bytes were changed after signing, or signed by a key not in the keyring",
    ),
    "key_window": (
        "each entry was signed while its key was valid",
        "the entry's time lies outside its key's validity window: a changed timestamp, or a "
        "retired (possibly stolen) key used after its rotation",
    ),
    "payload": (
        "each stored payload hashes to the entry's payload_sha256",
        "the stored payload bytes were changed or swapped after the entry was signed",
    ),
    "stream_versions": (
        "every stream's versions run 1, 2, 3 … with no gap or duplicate",
        "events of an aggregate were removed, duplicated, reordered or moved to another stream",
    ),
    "checkpoint_signature": (
        "every checkpoint is a note signed by this log's checkpoint key, with this log's origin",
        "a checkpoint was forged or altered, or belongs to another log (other origin or key)",
    ),
    "checkpoint_root": (
        "the Merkle root of the entries equals every checkpoint's root at its size",
        "the entries are not those the log committed to: edited, removed, inserted or reordered "
        "entries, a rolled-back log, or a forked checkpoint",
    ),
    "stored_checkpoint": (
        "the log is consistent with the checkpoint this verifier remembered from its last run",
        "the log was rolled back, or entries were removed or changed, since this verifier last "
        "verified it (the server's own checkpoint may verify: it was re-signed after the fact)",
    ),
    "erasure": (
        "every erased payload is a citizen's, erased by an Erased (or Released, Revoked) event "
        "later on its stream",
        "a payload was deleted where nothing may be erased (a transaction step, say), or "
        "without the event that erases it: an insider removed what the log recorded",
    ),
    "trusted_checkpoint": (
        "the log is consistent with the checkpoint the auditor kept",
        "the log was rolled back or forked since the auditor kept that checkpoint",
    ),
    "consistency_proof": (
        "the server's RFC 9162 consistency proof links the trusted and latest checkpoints",
        "the server cannot prove the latest tree extends the trusted one: a fork or rollback",
    ),
    "entry_count": (
        "the server streams exactly the entries its checkpoint covers",
        "the server withheld, repeated or added entries relative to its own checkpoint",
    ),
    "witness_cosignatures": (
        "the checkpoint carries valid cosignatures by enough of the witnesses the auditor pinned",
        "the witnesses did not vouch for this tree: they saw a larger or different one (a rollback "
        "or a rewritten log), the log withheld it from them, or a cosignature was forged",
    ),
    "inclusion": (
        "the inclusion proof leads from the entry to the checkpoint's root",
        "the entry is not in the tree the checkpoint commits to, or the proof was altered",
    ),
    "data_keys": (
        "every citizen's data key is proved held unless the log erased them, and gone if it did",
        "a citizen's data key was deleted without an Erased event (their data shredded with no "
        "record of why), or an erasure left the key behind, or the service holds another key",
    ),
    "replay_queue": (
        "the transaction queue the service serves equals the one rebuilt from the payloads",
        "agencies' work queues disagree with the ledger: a case's status, dates or owner were "
        "changed, or a case hidden or invented, in the read model (or its projection is broken)",
    ),
    "replay_timeline": (
        "the citizen timeline the service serves equals the one rebuilt from the payloads",
        "citizens are shown a history that is not the ledger's: an item was changed, hidden or "
        "invented in the read model (or its projection is broken)",
    ),
    "replay_statistics": (
        "the statistics the service serves (sign-ins per day, case times) equal those rebuilt "
        "from the entries",
        "the figures reported to the people who run the services are not the ledger's: counts "
        "or case times were changed, added or removed in the read model",
    ),
}


@dataclass(slots=True)
class Failure:
    index: int | None  # the leaf index, where the failure is about one entry
    where: str  # "leaf 12", "checkpoints/8.txt", "receipt"
    reason: str


@dataclass(slots=True)
class Check:
    name: str
    checked: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def status(self) -> str:
        """passed, failed, or "not run" (nothing to check, or an earlier failure stopped it)."""
        if self.failed:
            return "failed"
        return "passed" if self.checked else "not run"

    def passed(self, count: int = 1) -> None:
        self.checked += count

    def fail(self, reason: str, *, index: int | None = None, where: str = "") -> None:
        self.checked += 1
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append(Failure(index, where or f"leaf {index}", reason))

    def fail_unlisted(self, count: int) -> None:
        """Count failures beyond those the caller chose to list (the first ones by its key)."""
        self.checked += count
        self.failed += count


@dataclass(slots=True)
class Report:
    mode: str  # bundle, receipt, live
    subject: str
    entries: int = 0
    checks: dict[str, Check] = field(default_factory=dict)
    erased_count: int = 0
    erased_indices: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str) -> Check:
        if name not in CHECKS:
            raise KeyError(f"unknown check {name!r}")
        return self.checks.setdefault(name, Check(name))

    def erased(self, index: int) -> None:
        self.erased_count += 1
        if len(self.erased_indices) < MAX_LISTED:
            self.erased_indices.append(index)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks.values())

    def failed_checks(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]


def to_json(report: Report) -> str:
    document = {
        "ok": report.ok,
        "mode": report.mode,
        "subject": report.subject,
        "entries": report.entries,
        "checks": [
            {
                "name": check.name,
                "ok": check.ok,
                "status": check.status,
                "checked": check.checked,
                "failed": check.failed,
                "description": CHECKS[check.name][0],
                "meaning": CHECKS[check.name][1],
                "failures": [
                    {"index": failure.index, "where": failure.where, "reason": failure.reason}
                    for failure in check.failures
                ],
            }
            for check in report.checks.values()
        ],
        "erased": {"count": report.erased_count, "indices": report.erased_indices},
        "notes": report.notes,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def to_text(report: Report) -> str:
    lines = [f"civitas-verify {report.mode}: {report.subject}", f"entries: {report.entries:,}"]
    for check in report.checks.values():
        description, meaning = CHECKS[check.name]
        mark = {"passed": "ok  ", "failed": "FAIL", "not run": "--  "}[check.status]
        counts = f"{check.checked:,} checked" + (
            f", {check.failed:,} failed" if check.failed else ""
        )
        if check.status == "not run":
            counts = "nothing to check" if report.ok else "not run"
        lines.append(f"  {mark} {check.name}: {description} ({counts})")
        if not check.ok:
            lines.append(f"       means: {meaning}")
            lines.extend(f"       {failure.where}: {failure.reason}" for failure in check.failures)
            if check.failed > len(check.failures):
                lines.append(f"       … and {check.failed - len(check.failures):,} more")
    if report.erased_count:
        shown = ", ".join(str(index) for index in report.erased_indices)
        more = " …" if report.erased_count > len(report.erased_indices) else ""
        lines.append(
            f"  erased payloads: {report.erased_count:,} (leaves {shown}{more}); their hashes, "
            "signatures and proofs were still checked"
        )
    lines.extend(f"  note: {note}" for note in report.notes)
    lines.append(
        "RESULT: "
        + ("all checks passed" if report.ok else "FAILED: " + ", ".join(report.failed_checks()))
    )
    return "\n".join(lines)
