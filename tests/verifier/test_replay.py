"""`civitas-verify live --replay`: the read models rebuilt from the payloads, held against the
rows the service serves, on hand-built entries and against a real server and database."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from civitas.client import bearer
from protos.civitas.v1 import audit_pb2, audit_pb2_grpc, identity_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as tpb
from tests.civitas.api.test_history import register, sign_in
from tests.civitas.server_process import add_account, civitas, running_server, status_code
from tests.civitas.test_server import wait_for_checkpoint
from tests.verifier.bundle_factory import Log
from tests.verifier.fake_audit_service import API_KEY, FakeAuditService, serving
from tests.verifier.test_against_writer import failed_checks, verify
from verifier import live
from verifier.live import Connection, verify_live
from verifier.replay import Replay
from verifier.replay_rows import ErasedItem, TimelineRow
from verifier.report import Report
from verifier.trust import Pins

# --- the derivation on hand-built entries ---------------------------------------------------

CITIZEN, SESSION, CASE, ACCESS = (str(uuid.uuid4()) for _ in range(4))
AT = "2026-03-01T09:00:00.000000Z"


def _entry(kind: str, stream: str, version: int) -> str:
    return json.dumps(
        {"actor": "service:tax", "at": AT, "stream": stream, "type": kind, "version": version},
        separators=(",", ":"),
    )


def _time(text: str) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": text}


def _payload(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


ENTRIES: list[tuple[str, str, int, bytes | None]] = [
    ("ledger.ServiceAccount.Created", str(uuid.uuid4()), 1, _payload(role="auditor")),
    ("identity.Citizen.Registered", CITIZEN, 1, None),  # erased
    ("identity.Citizen.TotpEnrollmentStarted", CITIZEN, 2, None),  # erased, never shown
    (
        "identity.Citizen.AuthenticationSucceeded",
        CITIZEN,
        3,
        _payload(methods=["password"], acr="AAL1", relying_service="tax", session_id=SESSION),
    ),
    (
        "identity.Session.Started",
        SESSION,
        1,
        _payload(citizen_id=CITIZEN, acr="AAL1", amr=["pwd"], relying_service="tax"),
    ),
    ("identity.Session.Revoked", SESSION, 2, _payload(reason="signed out")),
    (
        "ledger.Transaction.Submitted",
        CASE,
        1,
        _payload(
            agency="tax",
            service_code="tax.return",
            citizen_id=CITIZEN,
            reference="TAX-2026-00000-00000",
            note="",
            at=_time("2026-03-01T09:00:00+00:00"),
        ),
    ),
    ("ledger.Transaction.ReviewStarted", CASE, 2, _payload(reason="", at=_time(AT[:-1]))),
    (
        "ledger.Transaction.Approved",
        CASE,
        3,
        _payload(reason="fine", at=_time("2026-03-02T10:00:00.5+02:00")),
    ),
    (
        "ledger.DataAccess.Recorded",
        ACCESS,
        1,
        _payload(citizen_id=CITIZEN, agency="tax", purpose="audit", resource="citizen"),
    ),
    ("ledger.Transaction.Completed", CASE, 4, _payload(reason="", at=_time(AT[:-1]))),
    ("identity.Citizen.AuthenticationFailed", CITIZEN, 4, None),  # erased
    # Issue 13: a security event of its own kind, and a lookup that found nobody.
    (
        "identity.Citizen.RecoveryStarted",
        CITIZEN,
        5,
        _payload(
            reason="lost every factor",
            evidence_reference="counter 7",
            started_at=_time("2026-03-03T09:00:00+00:00"),
            effective_at=_time("2026-03-04T09:00:00+00:00"),
        ),
    ),
    (
        "ledger.DataAccess.Recorded",
        str(uuid.uuid4()),
        1,
        _payload(citizen_id="", agency="tax", purpose="audit", resource="no match"),
    ),
]


def _replayed(size: int) -> Replay:
    replay = Replay(size, size)
    for leaf, (kind, stream, version, payload) in enumerate(ENTRIES):
        replay.add(leaf, _entry(kind, stream, version), payload)
    return replay


def test_the_replay_derives_the_queue_and_the_timeline_from_the_payloads() -> None:
    replay = _replayed(len(ENTRIES))
    case = replay.queue[CASE]
    assert (case.status, case.submitted_at, case.decided_at) == (
        "COMPLETED",
        "2026-03-01T09:00:00.000000Z",
        "2026-03-02T08:00:00.500000Z",  # the approval's time, in UTC
    )
    kinds = {leaf: getattr(row, "kind", "erased") for (_, leaf), row in replay.timeline.items()}
    assert kinds == {
        1: "erased",
        2: "erased",
        3: "sign_in",
        4: "session",
        5: "session_revoked",  # linked to the citizen through the session's Started event
        6: "transaction",
        7: "transaction",
        8: "transaction",
        9: "data_access",
        10: "transaction",
        11: "erased",
        12: "recovery_started",
    }
    assert replay.timeline[(CITIZEN, 12)].summary == {  # type: ignore[union-attr]
        "change": "account recovery started",
        "by": "service:tax",
        "reason": "lost every factor",
        "evidence_reference": "counter 7",
        "effective_at": "2026-03-04T09:00:00+00:00",
    }
    assert {citizen for citizen, _ in replay.timeline} == {CITIZEN}
    assert replay.timeline[(CITIZEN, 3)].summary == {  # type: ignore[union-attr]
        "methods": ["password"],
        "acr": "AAL1",
        "relying_service": "tax",
        "outcome": "success",
    }


def test_the_replay_stops_at_the_served_tree_size() -> None:
    replay = _replayed(8)  # up to the review, before the approval
    assert replay.queue[CASE].status == "IN_REVIEW"
    assert replay.queue[CASE].decided_at == ""
    assert max(leaf for _, leaf in replay.timeline) == 7


def _served_timeline(
    replay: Replay, *, projected_before_erasure: bool = False
) -> list[audit_pb2.ProjectionRows]:
    """One message per row, as a service honest about that replay would serve them: erased
    items as a rebuild shows them, or as they were projected before the erasure."""
    messages = []
    for (citizen, leaf), row in sorted(replay.timeline.items()):
        shown: TimelineRow | None = row if isinstance(row, TimelineRow) else row.placeholder
        if isinstance(row, ErasedItem) and projected_before_erasure:
            shown = row.before
            if shown is not None and shown.kind == "sign_in":  # what the erased payload held
                shown = replace(shown, summary={"methods": ["password"], **shown.summary})
        if shown is None:
            continue  # not shown before the erasure
        served = audit_pb2.TimelineProjectionRow(
            citizen_id=citizen,
            leaf_index=leaf,
            notification_id=leaf + 1,
            at=shown.at,
            kind=shown.kind,
            type=shown.type,
            stream=shown.stream,
            version=shown.version,
            summary_json=json.dumps(shown.summary, sort_keys=True),
        )
        messages.append(audit_pb2.ProjectionRows(timeline=[served]))
    return messages


def test_erased_items_may_be_served_as_projected_before_the_erasure() -> None:
    served = _served_timeline(_replayed(len(ENTRIES)), projected_before_erasure=True)
    report = Report("live", "hand-built")
    _replayed(len(ENTRIES)).compare("timeline", iter(served), report)
    assert report.ok
    assert report.notes == [
        "replay: 3 timeline rows reflect erased payloads; what the entries still show of them "
        "was compared"
    ]

    erased_failure = next(m for m in served if m.timeline[0].leaf_index == 11)
    erased_failure.timeline[0].summary_json = json.dumps({"outcome": "success"})  # was a failure
    report = Report("live", "hand-built")
    _replayed(len(ENTRIES)).compare("timeline", iter(served), report)
    (failure,) = report.checks["replay_timeline"].failures
    assert (failure.index, failure.where) == (11, f"timeline row of citizen {CITIZEN} at leaf 11")
    assert failure.reason.startswith("the payload was erased; as a rebuilt placeholder: kind: ")


def test_every_failure_is_counted_and_the_first_by_key_listed() -> None:
    forged = sorted(str(uuid.UUID(int=n)) for n in range(30))
    served = [
        audit_pb2.ProjectionRows(queue=[audit_pb2.QueueProjectionRow(transaction_id=key)])
        for key in reversed(forged)
    ]
    report = Report("live", "hand-built")
    _replayed(len(ENTRIES)).compare("queue", iter(served), report)
    check = report.checks["replay_queue"]
    assert (check.checked, check.failed) == (31, 31)  # and the honest case, missing
    assert [f.where for f in check.failures] == [f"queue row {key}" for key in forged[:20]]


def test_served_rows_are_compared_field_by_field() -> None:
    honest = _served_timeline(_replayed(len(ENTRIES)))
    report = Report("live", "hand-built")
    _replayed(len(ENTRIES)).compare("timeline", iter(honest), report)
    assert report.ok
    assert report.checks["replay_timeline"].checked == len(honest)

    tampered = _served_timeline(_replayed(len(ENTRIES)))
    tampered[3].timeline[0].summary_json = json.dumps({"change": "started"})
    del tampered[5]
    tampered.append(audit_pb2.ProjectionRows(queue=[audit_pb2.QueueProjectionRow()]))
    report = Report("live", "hand-built")
    _replayed(len(ENTRIES)).compare("timeline", iter(tampered), report)
    check = report.checks["replay_timeline"]
    assert check.failed == 3
    assert [failure.where for failure in check.failures] == [
        "StreamProjection",  # queue rows in the timeline stream
        f"timeline row of citizen {CITIZEN} at leaf 4",
        f"timeline row of citizen {CITIZEN} at leaf 6",
    ]
    assert check.failures[1].reason.startswith('summary: served {"change": "started"}')
    assert check.failures[2].reason.startswith("missing")


class _UnprovenProjections(FakeAuditService):
    """Serves a queue stream without its position, and timeline rows of entries past its log."""

    def StreamProjection(
        self, request: audit_pb2.StreamProjectionRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.ProjectionRows]:
        self._authorise(context)
        if request.name == "queue":
            yield audit_pb2.ProjectionRows(queue=[audit_pb2.QueueProjectionRow(transaction_id="x")])
            return
        ahead = len(self.log.records) + 5
        position = audit_pb2.ProjectionPosition(name=request.name, tree_size=ahead)
        yield audit_pb2.ProjectionRows(position=position)


def test_rows_that_no_checkpoint_covers_fail(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "CHECKPOINT_WAIT_SECONDS", 0.3)
    with serving(_UnprovenProjections(log)) as target:
        report = verify_live(Connection(target, api_key=API_KEY), pins=Pins(), replay=True)
    assert report.failed_checks() == ["replay_queue", "replay_timeline", "replay_statistics"]
    (queue,) = report.checks["replay_queue"].failures
    assert queue.reason == "the stream does not begin with the projection's position"
    (timeline,) = report.checks["replay_timeline"].failures
    assert timeline.reason.startswith("the rows reflect 45 entries, but the latest checkpoint")
    assert report.entries == 40  # the log itself was still verified


# --- against a real server ------------------------------------------------------------------


def _settle(audit: audit_pb2_grpc.AuditServiceStub, key: str) -> int:
    """Wait until both read models reflect the whole log, which stopped growing; its size."""
    deadline, last = time.monotonic() + 30, -1
    while time.monotonic() < deadline:
        size = wait_for_checkpoint(audit, key, 1).tree_size
        positions = []
        for name in ("queue", "timeline"):
            call = audit.StreamProjection(
                audit_pb2.StreamProjectionRequest(name=name), metadata=bearer(key)
            )
            positions.append(next(call).position.tree_size)
            call.cancel()
        if positions == [size, size] and size == last:
            return size
        last = size
        time.sleep(0.3)
    raise AssertionError("the read models did not catch up with the log")


def _populate(channel: grpc.Channel, tax: list[tuple[str, str]], admin: str) -> dict[str, str]:
    """Citizens who sign in (and fail to) and refresh, cases in several states, data reads and
    an erasure."""
    identity = identity_pb2_grpc.IdentityServiceStub(channel)
    cases = transaction_pb2_grpc.TransactionServiceStub(channel)
    alice, bob, carol = (register(identity, tax, n) for n in ("R-1", "R-2", "R-3"))
    first_token = sign_in(identity, tax, alice)
    # A refresh: a session event the verifier has to replay like the projection did.
    refreshed = identity.RefreshSession(ipb.RefreshSessionRequest(token=first_token), metadata=tax)
    alice_token = bearer(refreshed.token)
    sign_in(identity, tax, carol)
    attempt = identity.BeginAuthentication(
        ipb.BeginAuthenticationRequest(citizen_id=bob), metadata=tax
    )
    wrong = ipb.CompleteAuthenticationRequest(attempt_id=attempt.attempt_id, password="wrong!")
    with pytest.raises(grpc.RpcError):  # a failed sign-in: an item of bob's timeline too
        identity.CompleteAuthentication(wrong, metadata=tax)
    identity.GetCitizen(ipb.GetCitizenRequest(citizen_id=alice, purpose="audit"), metadata=tax)

    def case(key: str, citizen: str, *steps: str) -> str:
        submit = tpb.SubmitTransactionRequest(
            idempotency_key=key, service_code="tax.return", citizen_id=citizen, note=key
        )
        case_id = str(cases.SubmitTransaction(submit, metadata=tax).transaction_id)
        for step in steps:
            request = tpb.TransitionRequest(transaction_id=case_id, reason=f"{step} reason")
            getattr(cases, step)(request, metadata=alice_token if step == "Withdraw" else tax)
        return case_id

    ids = {
        "completed": case("c-1", alice, "StartReview", "ApproveTransaction", "CompleteTransaction"),
        "rejected": case("c-2", bob, "StartReview", "RejectTransaction"),
        "waiting": case("c-3", alice, "StartReview", "RequestInformation"),
        "withdrawn": case("c-4", alice),
        "submitted": case("c-5", carol),
        "alice": alice,
        "carol": carol,
    }
    cases.WithdrawTransaction(
        tpb.TransitionRequest(transaction_id=ids["withdrawn"], reason="changed my mind"),
        metadata=alice_token,
    )
    cases.GetTransaction(
        tpb.GetTransactionRequest(transaction_id=ids["rejected"], purpose="appeal"), metadata=tax
    )
    erase = ipb.EraseCitizenRequest(citizen_id=carol, reason="GDPR art. 17")
    assert identity.EraseCitizen(erase, metadata=bearer(admin)).erased
    return ids


def _ledger(tmp_path: Path, database: str) -> tuple[Path, str, list[tuple[str, str]], str]:
    """A fresh ledger and its accounts: (data folder, auditor key, agency metadata, admin key)."""
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init", "--origin", "civitas.test/replay")
    auditor = add_account(data_dir, database, "auditor-1", "auditor")
    tax = bearer(
        add_account(data_dir, database, "tax-office", "agency:tax,registrar,relying-service")
    )
    return data_dir, auditor, tax, add_account(data_dir, database, "admin-1", "admin")


def _replay(port: int, key: str) -> tuple[int, dict[str, Any]]:
    target = f"127.0.0.1:{port}"
    return verify(
        "live", "--target", target, "--replay", "--jobs", "1", env={"CIVITAS_API_KEY": key}
    )


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    checks: list[dict[str, Any]] = report["checks"]
    return next(check for check in checks if check["name"] == name)


def test_the_served_read_models_equal_the_replay(tmp_path: Path, database_url: str) -> None:
    data_dir, key, tax, admin = _ledger(tmp_path, database_url)
    with running_server(data_dir, database_url) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        _populate(channel, tax, admin)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        size = _settle(audit, key)
        code, report = _replay(port, key)
        assert code == 0, json.dumps(report, indent=1)
        assert _check(report, "replay_queue")["checked"] == 5  # every case
        # 3 citizens: registration, password, sign-in (or failure), sessions and Alice's
        # refresh, cases, data reads, and the revocation of Carol's session by her erasure
        assert (
            _check(report, "replay_timeline")["checked"] == 35
        )  # 6: activation codes issued and used
        for name in ("queue", "timeline"):
            note = f"replay: the {name} was compared as of the log's first {size:,} entries"
            assert note in report["notes"]
        # Carol's: 5 erased payloads (her activation code's two among them), and 3 rows
        # scrubbed with her (her session's start and revocation, her case)
        erased_note = "8 timeline rows reflect erased payloads"
        assert any(erased_note in n for n in report["notes"]), report["notes"]

        assert _check(report, "replay_statistics")["checked"] > 0
        unknown = audit.StreamProjection(
            audit_pb2.StreamProjectionRequest(name="sessions"), metadata=bearer(key)
        )
        assert status_code(lambda: list(unknown)) == grpc.StatusCode.INVALID_ARGUMENT
        agency = audit.StreamProjection(
            audit_pb2.StreamProjectionRequest(name="queue"), metadata=tax
        )
        assert status_code(lambda: list(agency)) == grpc.StatusCode.PERMISSION_DENIED


def _tamper(database: str) -> tuple[str, str, str]:
    """Change a case's status, forge a case, delete a timeline item: (changed, forged, citizen)."""
    forged = str(uuid.uuid4())
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        rejected = connection.execute(
            "SELECT transaction_id FROM transaction_queue WHERE status = 'REJECTED'"
        ).fetchone()[0]
        connection.execute(
            "UPDATE transaction_queue SET status = 'APPROVED' WHERE transaction_id = ?",
            (rejected,),
        )
        connection.execute(
            "INSERT INTO transaction_queue SELECT ?, reference, service_code, agency, "
            "citizen_id, status, submitted_at, decided_at FROM transaction_queue "
            "WHERE transaction_id = ?",
            (forged, rejected),
        )
        citizen, position = connection.execute(
            "SELECT citizen_id, position FROM timeline WHERE kind = 'data_access' "
            "ORDER BY position LIMIT 1"
        ).fetchone()
        connection.execute(
            "DELETE FROM timeline WHERE citizen_id = ? AND position = ?", (citizen, position)
        )
    return rejected, forged, citizen


def test_tampered_rows_are_named_and_a_rebuild_passes(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir, key, tax, admin = _ledger(tmp_path, database)
    with running_server(data_dir, database) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        _populate(channel, tax, admin)
        _settle(audit_pb2_grpc.AuditServiceStub(channel), key)
        rejected, forged, citizen = _tamper(database)
        code, report = _replay(port, key)
    assert code == 1
    assert failed_checks(report) == {"replay_queue", "replay_timeline"}
    queue = {f["where"]: f["reason"] for f in _check(report, "replay_queue")["failures"]}
    assert queue == {
        f"queue row {rejected}": 'status: served "APPROVED", replay "REJECTED"',
        f"queue row {forged}": "extra: served, but no Submitted entry up to the projection's "
        "position opens this case",
    }
    (missing,) = _check(report, "replay_timeline")["failures"]
    assert missing["where"].startswith(f"timeline row of citizen {citizen} at leaf ")
    assert missing["reason"].startswith("missing")

    # The queue put back by hand and the timeline rebuilt from the log, the read models agree
    # again; of the erased citizen only the erasure's row is left, which the replay accepts.
    civitas(data_dir, database, "projections", "rebuild", "timeline")
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        connection.execute(
            "UPDATE transaction_queue SET status = 'REJECTED' WHERE transaction_id = ?",
            (rejected,),
        )
        connection.execute("DELETE FROM transaction_queue WHERE transaction_id = ?", (forged,))
        carols = connection.execute(
            "SELECT type FROM timeline WHERE citizen_id = (SELECT citizen_id FROM timeline "
            "WHERE type = 'identity.Citizen.Erased')"
        ).fetchall()
    # Her registration, password, sign-in, session and case: scrubbed with the rebuild too.
    assert carols == [("identity.Citizen.Erased",)]
    with running_server(data_dir, database) as (port, _):
        code, report = _replay(port, key)
    assert code == 0, json.dumps(report, indent=1)
