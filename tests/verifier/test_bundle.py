"""The bundle check end to end: an untouched bundle passes, and every tampering is named.

Checkpoints are written from the untouched log first; the tampering then rewrites only what an
attacker with write access to the export would change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.verifier.bundle_factory import START, Log, NoteKey, Record, make_log, rfc3339, seeded_key
from tests.verifier.reports import failed, failure_indices, verify
from verifier.bundle import verify_bundle
from verifier.cli import main
from verifier.keyring import keyring_from_json
from verifier.report import to_json
from verifier.trust import Pins


def _write_entries(folder: Path, records: list[Record]) -> None:
    (folder / "entries.jsonl").write_text("".join(r.line() + "\n" for r in records), "utf-8")


def _forge(log: Log, index: int, **changes: object) -> Record:
    """A new entry like ``index`` but with ``changes``, signed with the key its kid names."""
    fields = {**log.records[index].fields(), **changes}
    return replace(log.sign_entry(fields), index=index, payload=log.records[index].payload)


def _same_stream_pair(log: Log) -> tuple[int, int]:
    """Two adjacent events of one stream, after its creation."""
    last: dict[object, int] = {}
    for i, record in enumerate(log.records):
        stream = record.fields()["stream"]
        if stream in last and i > 8:
            return last[stream], i
        last[stream] = i
    raise LookupError


def flip_payload_byte(log: Log, folder: Path) -> None:
    record = log.records[5]
    assert record.payload is not None
    record.payload = bytes([record.payload[0] ^ 1]) + record.payload[1:]


def flip_entry_byte(log: Log, folder: Path) -> None:
    log.records[7].entry = log.records[7].entry.replace("tax-agency", "tax-agencz")


def delete_middle(log: Log, folder: Path) -> None:
    del log.records[10]


def delete_middle_renumbered(log: Log, folder: Path) -> None:
    del log.records[10]
    log.renumbered()


def delete_last(log: Log, folder: Path) -> None:
    log.records.pop()


def reorder_two(log: Log, folder: Path) -> None:
    log.records[12], log.records[13] = log.records[13], log.records[12]
    log.renumbered()


def reorder_within_a_stream(log: Log, folder: Path) -> None:
    a, b = _same_stream_pair(log)
    log.records[a], log.records[b] = log.records[b], log.records[a]
    log.renumbered()


def duplicate_one(log: Log, folder: Path) -> None:
    log.records.insert(10, replace(log.records[9]))
    log.renumbered()


def insert_rogue_key_entry(log: Log, folder: Path) -> None:
    forged = _forge(log, 39, version=999)
    forged = replace(log.sign_entry(forged.fields(), key=seeded_key("rogue")), index=25)
    log.records.insert(25, forged)
    log.renumbered()


def append_unknown_kid_entry(log: Log, folder: Path) -> None:
    fields = {**log.records[39].fields(), "kid": "k9", "version": 999}
    forged = replace(log.sign_entry(fields, key=seeded_key("rogue")), index=40)
    log.records.append(forged)


def swap_signatures(log: Log, folder: Path) -> None:
    a, b = log.records[4], log.records[6]
    a.signature, b.signature = b.signature, a.signature


def _retimed(log: Log, index: int, seconds: int) -> None:
    fields = log.records[index].fields()
    fields["at"] = rfc3339(START + timedelta(seconds=seconds))
    log.records[index].entry = replace(log.sign_entry(fields), index=index).entry  # bytes only


def timestamp_outside_window(log: Log, folder: Path) -> None:
    _retimed(log, 5, 30)  # k1 signed entry 5, but k1 retired at second 20


def timestamp_inside_window(log: Log, folder: Path) -> None:
    _retimed(log, 5, 6)


def retired_key_signs_later(log: Log, folder: Path) -> None:
    # Someone holding k1 after its rotation signs a new, otherwise well-formed entry.
    fields = {**log.records[39].fields(), "kid": "k1", "version": 999}
    fields["at"] = rfc3339(START + timedelta(seconds=50))
    log.records.append(replace(log.sign_entry(fields), index=40))


def move_to_other_stream(log: Log, folder: Path) -> None:
    other = log.records[26].fields()["stream"]
    assert log.records[25].fields()["stream"] != other
    log.records[25].entry = log.records[25].entry.replace(
        str(log.records[25].fields()["stream"]), str(other)
    )


def truncate_stream_start(log: Log, folder: Path) -> None:
    del log.records[2]  # entries 0-3 create the four streams
    log.renumbered()


def truncate_stream_tail(log: Log, folder: Path) -> None:
    stream = log.records[-1].fields()["stream"]
    tail = [i for i, r in enumerate(log.records) if r.fields()["stream"] == stream][-2:]
    for i in reversed(tail):
        del log.records[i]
    log.renumbered()


def forked_checkpoint(log: Log, folder: Path) -> None:
    note = log.checkpoint(20, root=hashlib.sha256(b"another history").digest())
    (folder / "checkpoints" / "20.txt").write_text(note, "utf-8")


def checkpoint_of_another_origin(log: Log, folder: Path) -> None:
    log.origin = "other.example/ledger"
    (folder / "checkpoints" / "8.txt").write_text(log.checkpoint(8), "utf-8")


def checkpoint_by_another_key(log: Log, folder: Path) -> None:
    impostor = NoteKey(log.checkpoint_key.name, seeded_key("impostor"))
    (folder / "checkpoints" / "8.txt").write_text(log.checkpoint(8, key=impostor), "utf-8")


def checkpoint_renamed(log: Log, folder: Path) -> None:
    (folder / "checkpoints" / "8.txt").rename(folder / "checkpoints" / "9.txt")


def checkpoints_removed(log: Log, folder: Path) -> None:
    for path in (folder / "checkpoints").iterdir():
        path.unlink()


TAMPERING: list[tuple[Callable[[Log, Path], None], set[str], list[int]]] = [
    (flip_payload_byte, {"payload"}, [5]),
    (flip_entry_byte, {"signature", "checkpoint_root"}, [7]),
    (delete_middle, {"index", "checkpoint_root"}, [10]),
    (delete_middle_renumbered, {"checkpoint_root"}, []),
    (delete_last, {"checkpoint_root"}, []),
    (reorder_two, {"checkpoint_root"}, []),
    (reorder_within_a_stream, {"stream_versions", "checkpoint_root"}, []),
    (duplicate_one, {"stream_versions", "checkpoint_root"}, [10]),
    (insert_rogue_key_entry, {"signature", "checkpoint_root", "stream_versions"}, [25]),
    (append_unknown_kid_entry, {"signature"}, [40]),
    (swap_signatures, {"signature"}, [4, 6]),
    (timestamp_outside_window, {"signature", "key_window", "checkpoint_root"}, [5]),
    (timestamp_inside_window, {"signature", "checkpoint_root"}, [5]),
    (retired_key_signs_later, {"key_window"}, [40]),
    (move_to_other_stream, {"signature", "stream_versions", "checkpoint_root"}, [25]),
    (truncate_stream_start, {"stream_versions", "checkpoint_root"}, []),
    (truncate_stream_tail, {"checkpoint_root"}, []),
    (forked_checkpoint, {"checkpoint_root"}, []),
    (checkpoint_of_another_origin, {"checkpoint_signature"}, []),
    (checkpoint_by_another_key, {"checkpoint_signature"}, []),
    (checkpoint_renamed, {"checkpoint_signature"}, []),
    (checkpoints_removed, {"checkpoint_root"}, []),
]


def test_the_untouched_bundle_passes_every_check(bundle: Path) -> None:
    report = verify(bundle)
    assert report.ok, to_json(report)
    assert report.entries == 40
    assert report.checks["signature"].checked == 40
    assert report.checks["checkpoint_root"].checked == 5
    assert (report.erased_count, report.erased_indices) == (2, [3, 11])
    assert main(["bundle", str(bundle), "--jobs", "1"]) == 0


@pytest.mark.parametrize(
    ("tamper", "expected", "first_leaves"), TAMPERING, ids=[t[0].__name__ for t in TAMPERING]
)
def test_tampering_is_detected_and_named(
    log: Log,
    bundle: Path,
    tamper: Callable[[Log, Path], None],
    expected: set[str],
    first_leaves: list[int],
) -> None:
    tamper(log, bundle)
    _write_entries(bundle, log.records)
    report = verify(bundle)
    assert expected <= failed(report), to_json(report)
    if first_leaves:
        named = set()
        for check in expected:
            named.update(failure_indices(report, check))
        assert set(first_leaves) <= named
    assert main(["bundle", str(bundle), "--jobs", "1"]) == 1


def test_a_change_of_time_inside_the_window_is_a_signature_failure_only(
    log: Log, bundle: Path
) -> None:
    timestamp_inside_window(log, bundle)
    _write_entries(bundle, log.records)
    assert "key_window" not in failed(verify(bundle))


def test_workers_and_chunks_do_not_change_the_report(log: Log, bundle: Path) -> None:
    swap_signatures(log, bundle)
    duplicate_one(log, bundle)
    _write_entries(bundle, log.records)
    alone = verify_bundle(bundle, pins=Pins(), jobs=1)
    pooled = verify_bundle(bundle, pins=Pins(), jobs=2, chunk_lines=7)
    assert to_json(pooled) == to_json(alone)
    assert not pooled.ok


def test_a_trusted_checkpoint_of_the_same_log_passes(log: Log, bundle: Path) -> None:
    report = verify(bundle, trusted=log.checkpoint(33))
    assert report.ok, to_json(report)
    assert report.checks["trusted_checkpoint"].checked == 1


def test_a_rolled_back_log_fails_the_trusted_checkpoint(tmp_path: Path) -> None:
    full = make_log(50, 4)
    trusted = full.checkpoint(50)
    full.records = full.records[:40]  # the log rolled back to 40 entries, checkpoints and all
    folder = full.write_bundle(tmp_path / "b", [8, 40])
    report = verify(folder, trusted=trusted)
    assert failed(report) == {"trusted_checkpoint"}, to_json(report)
    assert "rolled back" in report.checks["trusted_checkpoint"].failures[0].reason


def test_a_rewritten_history_fails_the_trusted_checkpoint(tmp_path: Path, log: Log) -> None:
    trusted = log.checkpoint(40)
    for index in range(30, 40):  # rewritten after the auditor's visit, re-signed, re-checkpointed
        log.records[index] = _forge(log, index, actor="service:rewritten")
    folder = log.write_bundle(tmp_path / "b", [8, 33, 40])
    report = verify(folder, trusted=trusted)
    assert failed(report) == {"trusted_checkpoint"}, to_json(report)


def test_a_forked_trusted_checkpoint_is_detected(log: Log, bundle: Path) -> None:
    fork = log.checkpoint(20, root=hashlib.sha256(b"fork").digest())
    assert failed(verify(bundle, trusted=fork)) == {"trusted_checkpoint"}


def test_a_trusted_checkpoint_by_another_key_is_refused(log: Log, bundle: Path) -> None:
    other = log.checkpoint(20, key=NoteKey("civitas-log", seeded_key("elsewhere")))
    report = verify(bundle, trusted=other)
    assert failed(report) == {"trusted_checkpoint"}
    assert "does not verify" in report.checks["trusted_checkpoint"].failures[0].reason


def test_unpinned_keys_are_reported_plainly(bundle: Path) -> None:
    assert any("NOT independently pinned" in note for note in verify(bundle).notes)


def test_pinning_the_logs_checkpoint_key_passes(log: Log, bundle: Path) -> None:
    report = verify(bundle, pins=Pins(checkpoint_keys=(log.checkpoint_key.vkey,)))
    assert report.ok
    assert not any("NOT independently pinned" in note for note in report.notes)


def test_pinning_another_logs_keys_fails(bundle: Path) -> None:
    other = make_log(4, 1, key_label="other")
    report = verify(bundle, pins=Pins(checkpoint_keys=(other.checkpoint_key.vkey,)))
    assert failed(report) == {"checkpoint_root", "checkpoint_signature"}
    report = verify(bundle, pins=Pins(keyring=keyring_from_json(other.keyring())))
    assert {"signature", "checkpoint_signature"} <= failed(report)


def test_a_malformed_keyring_fails_without_crashing(bundle: Path) -> None:
    (bundle / "keyring.json").write_text("{}", "utf-8")
    report = verify(bundle)
    assert failed(report) == {"keyring"}
    assert main(["bundle", str(bundle)]) == 1


def test_a_missing_bundle_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["bundle", str(tmp_path / "nowhere")]) == 2
