"""Hypothesis state machine: transactions through the real store and the queue projection,
against a model of the lifecycle. The projection's rows equal the model's; replay from zero
gives the same rows; an illegal step writes nothing."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventsourcing.persistence import Tracking
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from civitas.config import build_config
from civitas.node import Node
from ledger.errors import FailedPrecondition
from ledger.transactions import TransactionsApplication
from projections.queue import TransactionQueue
from tests.case_checks import as_agency, as_citizen

CITIZEN = "00000000-0000-4000-8000-000000000001"
ACTOR = "service:records-office"
LEGAL = {
    "start_review": ({"SUBMITTED"}, "IN_REVIEW"),
    "request_information": ({"IN_REVIEW"}, "INFORMATION_REQUESTED"),
    "resume_review": ({"INFORMATION_REQUESTED"}, "IN_REVIEW"),
    "approve": ({"IN_REVIEW"}, "APPROVED"),
    "reject": ({"IN_REVIEW"}, "REJECTED"),
    "complete": ({"APPROVED"}, "COMPLETED"),
    "withdraw": ({"SUBMITTED", "IN_REVIEW", "INFORMATION_REQUESTED"}, "WITHDRAWN"),
}


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        data = Path(self.folder.name)
        self.now = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
        self.node = Node(build_config(data_dir=str(data / "data"), environ={}), lambda: self.now)
        self.node.initialise("civitas.test/model")
        self.cases = TransactionsApplication(
            self.node.store, clock=lambda: self.now, citizen_exists=lambda c: c == CITIZEN
        )
        self.model: dict[str, str] = {}
        self.projection = TransactionQueue(self.node.queue_view)
        self.position = 0

    def _project_new_events(self) -> None:
        """Feed the projection what was just written, in order, as its runner would."""
        new = self.node.store.recorder.select_notifications(start=self.position + 1, limit=1000)
        for notification in new:
            event = self.node.store.mapper.to_domain_event(notification)
            self.projection.process_event(event, Tracking("ledger", notification.id))
            self.position = notification.id
        self.projection.flush()

    @invariant()
    def projection_equals_model(self) -> None:
        self._project_new_events()
        rows = self.node.queue_view.queue("records", [], "", 500)
        assert {r.transaction_id: r.status for r in rows} == self.model

    @initialize()
    def two_cases(self) -> None:
        self.submit("a")
        self.submit("b")

    @rule(key=st.sampled_from(["a", "b"]))  # few cases, so random steps go deep into each
    def submit(self, key: str) -> None:
        view = self.cases.submit(
            "records", key, "records.request", CITIZEN, None, None, [], "", ACTOR
        )
        self.model.setdefault(view.id, "SUBMITTED")  # a repeated key is the same case

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def legal_steps(self, data: st.DataObject) -> None:
        """A few legal steps on one case in a row: random single steps rarely get deep."""
        case = data.draw(st.sampled_from(sorted(self.model)))
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            actions = sorted(a for a, (sources, _) in LEGAL.items() if self.model[case] in sources)
            if not actions:
                return
            self._act(case, data.draw(st.sampled_from(actions)))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), action=st.sampled_from(sorted(LEGAL)))
    def any_step(self, data: st.DataObject, action: str) -> None:
        self._act(data.draw(st.sampled_from(sorted(self.model))), action)

    def _act(self, case: str, action: str) -> None:
        allowed_from, target = LEGAL[action]
        before = self.node.store.recorder.max_notification_id()
        self.now += timedelta(hours=1)
        try:
            if action == "withdraw":
                self.cases.withdraw(as_citizen(CITIZEN), case, "changed plans", ACTOR)
            else:
                getattr(self.cases, action)(as_agency("records"), case, "because", ACTOR)
        except FailedPrecondition:
            assert self.model[case] not in allowed_from
            assert self.node.store.recorder.max_notification_id() == before  # nothing written
            return
        assert self.model[case] in allowed_from
        self.model[case] = target

    def teardown(self) -> None:
        try:
            queue = next(p for p in self.node.projections() if p.name == "queue")
            position = self.node.store.recorder.max_notification_id()
            assert queue.catch_up(position, 30)
            rows = {
                r.transaction_id: r.status
                for r in self.node.queue_view.queue("records", [], "", 500)
            }
            assert rows == self.model
            assert queue.rebuild(self.node.queue_view.reset, position, 30)
            replayed = {
                r.transaction_id: r.status
                for r in self.node.queue_view.queue("records", [], "", 500)
            }
            assert replayed == rows
        finally:
            self.node.close()
            self.folder.cleanup()


# Each example starts a store and runs the projection: few examples, long runs, and no shrinking
# (it can take minutes here; a failure is reported unshrunk rather than slowly).
QueueMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
TestQueueModel = QueueMachine.TestCase
