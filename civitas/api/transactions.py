"""TransactionService: protobuf in, one application call, protobuf out.

Writes go to the transaction domain (`ledger.transactions`), reads to the read models
(`projections.cases`); whose case the caller may touch is decided by `civitas.api.authorization`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import grpc

from civitas.api.authorization import (
    actor_of,
    agency_of,
    citizen_of,
    current_caller,
    is_citizen,
    require_own_case,
    require_readable_case,
)
from civitas.api.change_waiter import ChangeWaiters
from civitas.api.rechecked_stream import WatchContext
from civitas.api.timestamps import optional_timestamp, to_timestamp
from ledger.transactions import CaseCheck, TransactionsApplication, TransactionView
from projections.cases import Cases
from projections.changes import ChangeFeed
from protos.civitas.v1 import transaction_pb2 as pb
from protos.civitas.v1 import transaction_pb2_grpc


class TransactionServicer(transaction_pb2_grpc.TransactionServiceServicer):
    def __init__(
        self, transactions: TransactionsApplication, cases: Cases, changes: ChangeFeed
    ) -> None:
        """`changes`: the timeline's change feed, which moves for a case's citizen with every
        step of the case."""
        self._transactions = transactions
        self._cases = cases
        self._changes = ChangeWaiters(changes)

    def SubmitTransaction(
        self, request: pb.SubmitTransactionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        amount = request.amount if request.HasField("amount") else None
        view = self._transactions.submit(
            _agency(),
            request.idempotency_key,
            request.service_code,
            request.citizen_id,
            amount.minor_units if amount else None,
            amount.currency if amount else None,
            list(request.documents),
            request.note,
            _actor(),
        )
        return _transaction(view)

    def StartReview(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.start_review(
                _agency_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def RequestInformation(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.request_information(
                _agency_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def ResumeReview(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.resume_review(
                _agency_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def ApproveTransaction(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.approve(
                _agency_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def RejectTransaction(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.reject(
                _agency_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def CompleteTransaction(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.complete(
                _agency_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def WithdrawTransaction(
        self, request: pb.TransitionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        return _transaction(
            self._transactions.withdraw(
                _citizen_case(), request.transaction_id, request.reason, _actor()
            )
        )

    def ProvideInformation(
        self, request: pb.ProvideInformationRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        view = self._transactions.provide_information(
            _citizen_case(), request.transaction_id, list(request.documents), request.note, _actor()
        )
        return _transaction(view)

    def GetTransaction(
        self, request: pb.GetTransactionRequest, context: grpc.ServicerContext
    ) -> pb.Transaction:
        caller = current_caller()
        may_read = partial(require_readable_case, caller)
        if is_citizen(caller):
            return _transaction(self._cases.read(may_read, request.transaction_id))
        view = self._cases.read_as_agency(
            may_read, _agency(), request.transaction_id, request.purpose, _actor()
        )
        return _transaction(view)

    def ListTransactions(
        self, request: pb.ListTransactionsRequest, context: grpc.ServicerContext
    ) -> pb.ListTransactionsResponse:
        cases, token = self._cases.queue(
            _agency(), list(request.statuses), request.page_size, request.page_token
        )
        return pb.ListTransactionsResponse(
            transactions=[
                pb.QueuedTransaction(
                    transaction_id=c.row.transaction_id,
                    reference=c.row.reference,
                    service_code=c.row.service_code,
                    status=c.row.status,
                    submitted_at=to_timestamp(c.row.submitted_at),
                    age_days=c.age_days,
                    sla_days=c.sla_days,
                    overdue=c.overdue,
                )
                for c in cases
            ],
            next_page_token=token,
        )

    async def WatchTransaction(  # the async form grpc.aio runs
        self, request: pb.WatchTransactionRequest, context: WatchContext
    ) -> AsyncIterator[pb.Transaction]:
        """The case now, then again after each step. Idle, it waits on the timeline's change
        feed for the case's citizen (every step of a case is in its citizen's timeline), not
        in a thread: other citizens' writes do not wake it."""
        first = await asyncio.to_thread(self._first_view, request.transaction_id)
        last: TransactionView | None = None
        with self._changes.watching(first.citizen_id) as changes:
            read_at = None  # the citizen's generation when the case was last read
            while await context.active():
                if read_at == changes.generation:  # nothing new: only the recheck was due
                    await context.idle(changes, read_at)
                    continue
                read_at = changes.generation
                current = await asyncio.to_thread(self._transactions.get, first.id)
                if current != last:
                    yield _transaction(current)
                    last = current

    def _first_view(self, transaction_id: str) -> TransactionView:
        caller = current_caller()
        may_read = partial(require_readable_case, caller)
        if is_citizen(caller):
            return self._cases.read(may_read, transaction_id)
        return self._cases.read_as_agency(
            may_read, _agency(), transaction_id, "watching the case's progress", _actor()
        )


def _actor() -> str:
    return actor_of(current_caller())


def _agency() -> str:
    return agency_of(current_caller())


def _agency_case() -> CaseCheck:
    """An agency's step: refused at once unless an agency calls, then its own cases only."""
    caller = current_caller()
    agency_of(caller)
    return partial(require_own_case, caller)


def _citizen_case() -> CaseCheck:
    """A citizen's step: refused at once unless the citizen calls, then their own case only."""
    caller = current_caller()
    citizen_of(caller)
    return partial(require_own_case, caller)


def _transaction(view: TransactionView) -> pb.Transaction:
    message = pb.Transaction(
        transaction_id=view.id,
        reference=view.reference,
        service_code=view.service_code,
        agency=view.agency,
        citizen_id=view.citizen_id,
        status=view.status.value,
        documents=list(view.documents),
        submitted_at=to_timestamp(view.submitted_at),
        decided_at=optional_timestamp(view.decided_at),
        history=[pb.StatusChange(status=s.value, at=to_timestamp(at)) for s, at in view.history],
    )
    if view.amount_minor is not None and view.currency:
        message.amount.CopyFrom(pb.Amount(minor_units=view.amount_minor, currency=view.currency))
    return message
