"""Only a citizen's data is ever erased (issue 15 item 6): an erased payload anywhere else, or
without the event that erases it later on its stream, is an insider deleting the record."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path

from tests.verifier.bundle_factory import START, Log, make_log, rfc3339
from tests.verifier.reports import failed, failure_indices, verify
from verifier.erasure import closing_type


def _append(log: Log, kind: str, stream: str, version: int, *, erased: bool = False) -> int:
    """Sign and append one more entry; returns its leaf."""
    index = len(log.records)
    payload = json.dumps({"n": index}).encode()
    moment = START + timedelta(seconds=index)
    fields: dict[str, object] = {
        "actor": "service:registry",
        "at": rfc3339(moment),
        "kid": log.kid_at(moment),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "stream": stream,
        "type": kind,
        "v": 1,
        "version": version,
    }
    record = log.sign_entry(fields)
    record.index, record.payload = index, None if erased else payload
    log.records.append(record)
    return index


def _bundle(log: Log, tmp_path: Path) -> Path:
    return log.write_bundle(tmp_path / "bundle", [len(log.records)])


def test_lawful_erasures_pass(tmp_path: Path) -> None:
    log = make_log(8, 2, erased=frozenset())
    citizen, claim = str(uuid.uuid4()), str(uuid.uuid4())
    _append(log, "identity.Citizen.Registered", citizen, 1, erased=True)
    _append(log, "identity.NationalIdentifierClaim.Claimed", claim, 1, erased=True)
    _append(log, "identity.Citizen.PasswordSet", citizen, 2, erased=True)
    _append(log, "identity.Citizen.Erased", citizen, 3)
    _append(log, "identity.NationalIdentifierClaim.Released", claim, 2)
    report = verify(_bundle(log, tmp_path))
    assert report.ok, report.failed_checks()
    assert report.checks["erasure"].checked == 3


def test_a_faked_erasure_of_a_transaction_step_fails(tmp_path: Path) -> None:
    """The attack of issue 15: a case's decision payload replaced by the erased marker."""
    log = make_log(8, 2, erased=frozenset())
    case = str(uuid.uuid4())
    _append(log, "ledger.Transaction.Submitted", case, 1)
    rejected = _append(log, "ledger.Transaction.Rejected", case, 2, erased=True)
    report = verify(_bundle(log, tmp_path))
    assert failed(report) == {"erasure"}
    assert failure_indices(report, "erasure") == [rejected]


def test_an_erasure_without_its_erasing_event_fails(tmp_path: Path) -> None:
    log = make_log(8, 2, erased=frozenset())
    citizen, session = str(uuid.uuid4()), str(uuid.uuid4())
    registered = _append(log, "identity.Citizen.Registered", citizen, 1, erased=True)
    refreshed = _append(log, "identity.Session.Refreshed", session, 1, erased=True)
    _append(log, "identity.Session.Revoked", str(uuid.uuid4()), 1)  # another session's
    report = verify(_bundle(log, tmp_path))
    assert failed(report) == {"erasure"}
    assert failure_indices(report, "erasure") == [registered, refreshed]


def test_the_erasing_event_must_come_later(tmp_path: Path) -> None:
    log = make_log(8, 2, erased=frozenset())
    citizen = str(uuid.uuid4())
    _append(log, "identity.Citizen.Registered", citizen, 1)
    erased_last = _append(log, "identity.Citizen.Erased", citizen, 2, erased=True)
    report = verify(_bundle(log, tmp_path))
    assert failure_indices(report, "erasure") == [erased_last]


def test_which_events_erase_which() -> None:
    assert closing_type("identity.Citizen.TotpEnrolled") == "identity.Citizen.Erased"
    assert closing_type("identity.Session.Refreshed") == "identity.Session.Revoked"
    assert closing_type("identity.Session.Started") is None
    assert closing_type("ledger.Transaction.Submitted") is None
    assert closing_type("ledger.DataAccess.Recorded") is None
