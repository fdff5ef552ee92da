"""The lifecycle table (`ledger.transactions.LIFECYCLE`) walked at random: whatever legal and
illegal steps are tried, the status the aggregate reaches on replay is the queue row's status,
and its decision time is the queue's and the statistics' (all three read the one table)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civitas.node import Node
from ledger.errors import FailedPrecondition
from ledger.store import LOG_NAME
from ledger.transactions import LIFECYCLE, Transaction
from projections.queue import TransactionQueue
from projections.statistics import Statistics
from tests.conftest import ready_node

ACTOR = "service:records-office"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DOCUMENT = hashlib.sha256(b"certificate.pdf").hexdigest()
COMMANDS = [step.command for step in LIFECYCLE.values() if step.allowed_from]


@pytest.fixture(scope="module")
def sqlite_node(tmp_path_factory: pytest.TempPathFactory) -> Node:
    folder = tmp_path_factory.mktemp("lifecycle")
    return ready_node(folder / "data", f"sqlite:///{folder / 'civitas.sqlite'}")


def attempt(transaction: Transaction, command: str, at: datetime) -> None:
    try:
        if command == "provide_information":
            transaction.provide_information([DOCUMENT], "", at=at, actor=ACTOR)
        else:
            getattr(transaction, command)("a reason", at=at, actor=ACTOR)
    except FailedPrecondition:
        pass  # an illegal step records nothing; the walk goes on


positions = itertools.count(1)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(COMMANDS), max_size=8))
def test_the_queue_and_statistics_follow_the_aggregate(
    sqlite_node: Node, commands: list[str]
) -> None:
    transaction = Transaction(
        agency="records", idempotency_key=str(uuid4()), service_code="records.request",
        citizen_id=str(uuid4()), reference="REC-2026-00000-00000", amount_minor=None,
        currency=None, documents=[], note="", at=T0, actor=ACTOR,
    )  # fmt: skip
    for hours, command in enumerate(commands, start=1):
        attempt(transaction, command, T0 + timedelta(hours=hours))
    events = transaction.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Transaction)

    queue = TransactionQueue(sqlite_node.queue_view)
    statistics = Statistics(sqlite_node.statistics_view)
    for event in events:
        tracking = Tracking(LOG_NAME, next(positions))
        for projection in (queue, statistics):
            projection.process_event(event, tracking)
    queue.flush()
    statistics.flush()

    rows = [
        row
        for row in sqlite_node.queue_view.queue("records", [], "", 10_000)
        if row.transaction_id == str(transaction.id)
    ]
    assert [(row.status, row.decided_at) for row in rows] == [
        (replayed.status.value, replayed.decided_at)
    ]
    decided = {
        case.transaction_id: case.decided_at for case in sqlite_node.statistics_view.decided_cases()
    }
    assert decided.get(str(transaction.id)) == replayed.decided_at
