"""TransactionService end to end: agencies decide cases, citizens follow them, step by step."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from civitas.client import bearer
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as pb
from tests.civitas.api.test_history import register, sign_in, wait_for
from tests.civitas.server_process import add_account, civitas, running_server, status_code
from tests.civitas.status_details import detail, reason

DOCUMENT = "ab" * 32
FEE = pb.Amount(minor_units=15_000, currency="EUR")
# Every RPC that takes a TransitionRequest: a new step is checked without touching this file.
TRANSITIONS = [
    method.name
    for method in pb.DESCRIPTOR.services_by_name["TransactionService"].methods
    if method.input_type.name == "TransitionRequest"
]


def written(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "civitas.sqlite") as connection:
        count: int = connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    return count


def test_a_building_permit_from_submission_to_completion(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    building = bearer(
        add_account(
            data_dir, database, "building-office", "agency:building,registrar,relying-service"
        )
    )
    tax = bearer(
        add_account(data_dir, database, "tax-office", "agency:tax,registrar,relying-service")
    )
    admin = bearer(add_account(data_dir, database, "operator", "admin"))
    with running_server(data_dir, database) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        cases = transaction_pb2_grpc.TransactionServiceStub(channel)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        citizen = register(identity, building, "C-1")
        token = bearer(sign_in(identity, building, citizen))
        erased = register(identity, building, "C-2")
        identity.EraseCitizen(
            ipb.EraseCitizenRequest(citizen_id=erased, reason="GDPR art. 17"), metadata=admin
        )

        submit = pb.SubmitTransactionRequest(
            idempotency_key="portal-req-1",
            service_code="permit.building",
            citizen_id=citizen,
            documents=[DOCUMENT],
            note="extension of a garden shed",
            amount=FEE,
        )
        case = cases.SubmitTransaction(submit, metadata=building)
        assert case.status == "SUBMITTED"
        assert case.reference.startswith("PERMIT-")
        assert abs(case.submitted_at.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=1)
        assert not case.HasField("decided_at")  # no decision yet: unset, not an empty string
        assert case.history[0].at == case.submitted_at
        again = cases.SubmitTransaction(submit, metadata=building)  # a retry, not a second case
        assert again.transaction_id == case.transaction_id
        step = pb.TransitionRequest(transaction_id=case.transaction_id, reason="assigned")

        # Every step states its reason: without one it is refused, naming the field.
        before = written(tmp_path)
        for method in TRANSITIONS:
            for blank in ("", "  "):
                request = pb.TransitionRequest(transaction_id=case.transaction_id, reason=blank)
                metadata = token if method == "WithdrawTransaction" else building
                with pytest.raises(grpc.RpcError) as refused:
                    getattr(cases, method)(request, metadata=metadata)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
                violations = detail(refused.value, error_details_pb2.BadRequest)
                assert violations is not None
                assert [v.field for v in violations.field_violations] == ["reason"], method
        # A case is opened only for a registered citizen.
        for stranger in (str(uuid.uuid4()), erased):
            unknown = pb.SubmitTransactionRequest(
                idempotency_key=f"portal-{stranger}",
                service_code="permit.building",
                citizen_id=stranger,
                amount=FEE,
            )
            with pytest.raises(grpc.RpcError) as refused:
                cases.SubmitTransaction(unknown, metadata=building)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            assert reason(refused.value) == "CITIZEN_NOT_FOUND"
        assert written(tmp_path) == before

        # Illegal steps and foreign agencies are refused and write nothing.
        assert (
            status_code(cases.ApproveTransaction, step, metadata=building)
            == grpc.StatusCode.FAILED_PRECONDITION
        )
        assert (
            status_code(cases.StartReview, step, metadata=tax) == grpc.StatusCode.PERMISSION_DENIED
        )
        read = pb.GetTransactionRequest(transaction_id=case.transaction_id, purpose="curiosity")
        assert (
            status_code(cases.GetTransaction, read, metadata=tax)
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert (
            status_code(
                cases.SubmitTransaction,
                pb.SubmitTransactionRequest(
                    idempotency_key="k", service_code="permit.building", citizen_id="nope"
                ),
                metadata=building,
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        )

        updates: list[str] = []
        watch = cases.WatchTransaction(
            pb.WatchTransactionRequest(transaction_id=case.transaction_id), metadata=token
        )
        threading.Thread(target=lambda: _collect(watch, updates), daemon=True).start()
        # A watch opens on the case as it is when served; wait for that before changing it.
        wait_for(lambda: updates)

        cases.StartReview(step, metadata=building)
        cases.RequestInformation(
            pb.TransitionRequest(transaction_id=case.transaction_id, reason="site plan"),
            metadata=building,
        )
        cases.ProvideInformation(
            pb.ProvideInformationRequest(
                transaction_id=case.transaction_id, documents=["cd" * 32], note="plan attached"
            ),
            metadata=token,
        )
        cases.ApproveTransaction(
            pb.TransitionRequest(transaction_id=case.transaction_id, reason="conforms"),
            metadata=building,
        )
        done = cases.CompleteTransaction(
            pb.TransitionRequest(transaction_id=case.transaction_id, reason="permit issued"),
            metadata=building,
        )
        assert [h.status for h in done.history] == [
            "SUBMITTED",
            "IN_REVIEW",
            "INFORMATION_REQUESTED",
            "IN_REVIEW",
            "APPROVED",
            "COMPLETED",
        ]
        moments = [h.at.ToNanoseconds() for h in done.history]
        assert moments == sorted(moments)
        assert done.decided_at == done.history[4].at  # the approval decided it
        wait_for(lambda: updates and updates[-1] == "COMPLETED")
        assert updates[0] == "SUBMITTED"
        watch.cancel()

        # The agency's queue, from the projection; the citizen's history shows each step.
        queue = wait_for(
            lambda: (
                (
                    q := cases.ListTransactions(
                        pb.ListTransactionsRequest(statuses=["COMPLETED"]), metadata=building
                    ).transactions
                )
                and q
            )
        )
        assert [q.transaction_id for q in queue] == [case.transaction_id]
        assert queue[0].submitted_at == case.submitted_at
        assert queue[0].sla_days > 0
        cases.GetTransaction(
            pb.GetTransactionRequest(transaction_id=case.transaction_id, purpose="permit register"),
            metadata=building,
        )
        kinds = hpb.ListMyHistoryRequest(kinds=["transaction", "data_access"])

        def case_history() -> list[hpb.HistoryItem] | None:
            items = list(history.ListMyHistory(kinds, metadata=token).items)
            return items if len(items) >= 7 else None  # six steps and one recorded read

        steps = wait_for(case_history)
        assert [i.kind for i in steps][-1] == "data_access"
        assert sum(1 for i in steps if i.kind == "transaction") == 6

        # The citizen withdraws a second case before any decision.
        second = cases.SubmitTransaction(
            pb.SubmitTransactionRequest(
                idempotency_key="portal-req-2",
                service_code="permit.building",
                citizen_id=citizen,
                amount=FEE,
            ),
            metadata=building,
        )
        withdraw = pb.TransitionRequest(
            transaction_id=second.transaction_id, reason="changed my mind"
        )
        assert (
            status_code(cases.WithdrawTransaction, withdraw, metadata=building)
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert cases.WithdrawTransaction(withdraw, metadata=token).status == "WITHDRAWN"
        channel.close()


def _collect(watch: object, updates: list[str]) -> None:
    try:
        for case in watch:  # type: ignore[attr-defined]
            updates.append(case.status)
    except grpc.RpcError:
        time.sleep(0)  # cancelled by the test
