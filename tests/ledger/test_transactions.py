"""Government transactions on SQLite and PostgreSQL, and the lifecycle against a model.

The model (`MODEL`) is written out here from the specification, apart from the code under test,
so a wrong transition table in `ledger/transactions.py` fails these tests.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from civitas.node import Node
from ledger.accounts import account_id
from ledger.errors import Aborted, Conflict, FailedPrecondition, InvalidInput, NotAllowed, NotFound
from ledger.transactions import (
    CROCKFORD,
    Transaction,
    TransactionsApplication,
    TransactionView,
    is_valid_reference,
    reference_for,
)
from ledger.transactions import TransactionStatus as S
from tests.case_checks import as_agency, as_citizen
from tests.conftest import ready_node

OFFICER = "service:tax-office"
PORTAL = "service:citizen-portal"
CITIZEN = "5f0c6c1e-8a0e-4d57-9b61-2c3f4a5b6c7d"
STRANGER = "0b9e8c7d-6f5a-4e3d-8c2b-1a0f9e8d7c6b"
REGISTERED = frozenset({CITIZEN, STRANGER})  # what the identity application would answer
RECEIPT = hashlib.sha256(b"receipt.pdf").hexdigest()
PAYSLIP = hashlib.sha256(b"payslip.pdf").hexdigest()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUBMITTED_TOPIC = "ledger.Transaction.Submitted"
# Who acts, as the API layer's ownership check (tests/case_checks.py).
TAX, RECORDS, OWNER = as_agency("tax"), as_agency("records"), as_citizen(CITIZEN)


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A node whose one clock stands at T0, where these tests' clocks start: its keys are valid
    from then, so entries dated by the transactions' clocks verify."""
    ledger_node = ready_node(tmp_path / "data", database_url, clock=lambda: T0)
    yield ledger_node
    ledger_node.close()


# action -> (the statuses it is legal from, the status it leads to)
MODEL: dict[str, tuple[frozenset[S], S]] = {
    "start_review": (frozenset({S.SUBMITTED}), S.IN_REVIEW),
    "request_information": (frozenset({S.IN_REVIEW}), S.INFORMATION_REQUESTED),
    "provide_information": (frozenset({S.INFORMATION_REQUESTED}), S.IN_REVIEW),
    "resume_review": (frozenset({S.INFORMATION_REQUESTED}), S.IN_REVIEW),
    "approve": (frozenset({S.IN_REVIEW}), S.APPROVED),
    "reject": (frozenset({S.IN_REVIEW}), S.REJECTED),
    "complete": (frozenset({S.APPROVED}), S.COMPLETED),
    "withdraw": (frozenset({S.SUBMITTED, S.IN_REVIEW, S.INFORMATION_REQUESTED}), S.WITHDRAWN),
}
# a way to reach each status
PATHS: dict[S, list[str]] = {
    S.SUBMITTED: [],
    S.IN_REVIEW: ["start_review"],
    S.INFORMATION_REQUESTED: ["start_review", "request_information"],
    S.APPROVED: ["start_review", "approve"],
    S.REJECTED: ["start_review", "reject"],
    S.COMPLETED: ["start_review", "approve", "complete"],
    S.WITHDRAWN: ["start_review", "withdraw"],
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class BarrierClock(Clock):
    """Holds each caller until all have arrived. `submit` reads the clock after it has looked
    for an existing transaction, so racing submits all pass that look before any saves."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)

    def __call__(self) -> datetime:
        self.barrier.wait()
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(node: Node, clock: Clock) -> TransactionsApplication:
    return TransactionsApplication(node.store, clock=clock, citizen_exists=REGISTERED.__contains__)


def written(node: Node) -> int:
    return node.store.recorder.max_notification_id() or 0


def topics(node: Node, transaction_id: str) -> list[str]:
    return [row.topic for row in node.store.recorder.select_events(UUID(transaction_id))]


def submit(
    app: TransactionsApplication, key: str = "tax-2026-0001", **change: Any
) -> TransactionView:
    request: dict[str, Any] = {
        "agency": "tax",
        "idempotency_key": key,
        "service_code": "tax.payment",
        "citizen_id": CITIZEN,
        "amount_minor": 125_00,
        "currency": "EUR",
        "documents": [RECEIPT],
        "note": "",
        "actor": PORTAL,
    }
    return app.submit(**{**request, **change})


def act(app: TransactionsApplication, action: str, transaction_id: str) -> TransactionView:
    if action == "withdraw":
        return app.withdraw(OWNER, transaction_id, "no longer needed", PORTAL)
    if action == "provide_information":
        return app.provide_information(OWNER, transaction_id, [PAYSLIP], "", PORTAL)
    view: TransactionView = getattr(app, action)(
        TAX, transaction_id, reason="checked", actor=OFFICER
    )
    return view


def test_a_case_goes_from_submission_to_completion(
    app: TransactionsApplication, node: Node, clock: Clock
) -> None:
    view = submit(app, citizen_id=CITIZEN.upper())
    assert (view.status, view.citizen_id, view.submitted_at) == (S.SUBMITTED, CITIZEN, T0)
    assert view.id == str(Transaction.create_id("tax", "tax-2026-0001"))
    assert view.reference == reference_for(UUID(view.id), "tax.payment", T0)
    steps: list[Callable[[], TransactionView]] = [
        lambda: app.start_review(TAX, view.id, "assigned", OFFICER),
        lambda: app.request_information(TAX, view.id, "the March payslip", OFFICER),
        lambda: app.provide_information(OWNER, view.id, [PAYSLIP, RECEIPT], "here", PORTAL),
        lambda: app.approve(TAX, view.id, "paid in full", OFFICER),
        lambda: app.complete(TAX, view.id, "receipt issued", OFFICER),
    ]
    statuses = [S.IN_REVIEW, S.INFORMATION_REQUESTED, S.IN_REVIEW, S.APPROVED, S.COMPLETED]
    for minutes, (step, status) in enumerate(zip(steps, statuses, strict=True), start=1):
        clock.now = T0 + timedelta(minutes=minutes)
        assert step().status is status
    final = TransactionsApplication(
        node.store, clock=clock, citizen_exists=REGISTERED.__contains__
    ).get(view.id)  # read back anew
    times = [T0 + timedelta(minutes=m) for m in range(6)]
    assert final.history == tuple(zip([S.SUBMITTED, *statuses], times, strict=True))
    assert final.decided_at == T0 + timedelta(minutes=4)
    assert final.documents == (RECEIPT, PAYSLIP)
    assert (final.amount_minor, final.currency, final.agency) == (125_00, "EUR", "tax")
    events = [vars(e) for e in app.events.get(UUID(view.id))]
    assert [(e["actor"], e.get("reason", e.get("note"))) for e in events] == [
        (PORTAL, ""),
        (OFFICER, "assigned"),
        (OFFICER, "the March payslip"),
        (PORTAL, "here"),
        (OFFICER, "paid in full"),
        (OFFICER, "receipt issued"),
    ]
    assert [topic.rsplit(".", 1)[1] for topic in topics(node, view.id)] == [
        "Submitted",
        "ReviewStarted",
        "InformationRequested",
        "InformationProvided",
        "Approved",
        "Completed",
    ]


def test_an_agency_may_stop_waiting_and_reject(app: TransactionsApplication, clock: Clock) -> None:
    view = submit(app)
    app.start_review(TAX, view.id, "assigned", OFFICER)
    app.request_information(TAX, view.id, "the March payslip", OFFICER)
    clock.now = T0 + timedelta(days=30)
    resumed = app.resume_review(TAX, view.id, "no answer in 30 days", OFFICER)
    assert resumed.status is S.IN_REVIEW
    rejected = app.reject(TAX, view.id, "payment not received", OFFICER)
    assert (rejected.status, rejected.decided_at) == (S.REJECTED, clock.now)


def test_every_illegal_step_is_a_failed_precondition_and_writes_nothing(
    app: TransactionsApplication, node: Node
) -> None:
    for status, path in PATHS.items():
        view = submit(app, key=f"case-{status.value}")
        for action in path:
            view = act(app, action, view.id)
        assert view.status is status
        before = written(node)
        illegal = [action for action, (legal, _) in MODEL.items() if status not in legal]
        for action in illegal:
            with pytest.raises(FailedPrecondition) as raised:
                act(app, action, view.id)
            assert status.value in str(raised.value), action
            assert action.replace("_", " ") in str(raised.value)
        assert written(node) == before
        assert app.get(view.id) == view


def test_a_repeated_submit_returns_the_first_and_writes_nothing(
    app: TransactionsApplication, node: Node, clock: Clock
) -> None:
    first = submit(app)
    before = written(node)
    clock.now = T0 + timedelta(days=400)  # a retry next year still gets the first reference
    assert submit(app) == first
    assert written(node) == before


def test_a_reused_key_with_other_parameters_is_a_conflict(
    app: TransactionsApplication, node: Node
) -> None:
    first = submit(app)
    before = written(node)
    changes: list[dict[str, Any]] = [
        {"amount_minor": 99},
        {"currency": "SEK"},
        {"documents": [PAYSLIP]},
        {"documents": []},
        {"note": "typo fixed"},
        {"citizen_id": STRANGER},
        {"service_code": "tax.return"},
    ]
    for change in changes:
        with pytest.raises(Conflict, match="idempotency key reused with different parameters"):
            submit(app, **change)
    assert written(node) == before
    assert app.get(first.id) == first


def test_the_same_key_at_another_agency_is_another_case(app: TransactionsApplication) -> None:
    tax = submit(app, key="2026-17")
    records = submit(
        app,
        key="2026-17",
        agency="records",
        service_code="records.request",
        amount_minor=None,
        currency=None,
    )
    assert tax.id != records.id
    assert records.reference.startswith("RECORDS-2026-")


@pytest.mark.parametrize("same", [True, False], ids=["same-parameters", "other-parameters"])
def test_racing_submits_with_one_key_make_one_transaction(node: Node, same: bool) -> None:
    app = TransactionsApplication(
        node.store, clock=BarrierClock(2), citizen_exists=REGISTERED.__contains__
    )
    results: dict[int, TransactionView | Exception] = {}

    def run(index: int) -> None:
        try:
            results[index] = submit(app, note="" if same or index == 0 else "second")
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notifications = node.store.recorder.select_notifications(start=1, limit=1000)
    assert [n.topic for n in notifications].count(SUBMITTED_TOPIC) == 1
    views = [r for r in results.values() if isinstance(r, TransactionView)]
    if same:
        assert len(views) == 2
        assert views[0] == views[1]
    else:
        assert len(views) == 1
        assert [type(r) for r in results.values() if r not in views] == [Conflict]


def test_another_agency_can_neither_submit_nor_act_on_a_case(
    app: TransactionsApplication, node: Node
) -> None:
    view = submit(app)
    app.start_review(TAX, view.id, "assigned", OFFICER)
    before = written(node)
    with pytest.raises(NotAllowed):
        submit(app, key="other", agency="records")
    for action in ("start_review", "request_information", "resume_review", "approve", "reject"):
        with pytest.raises(NotAllowed, match="agency 'records' cannot act on agency 'tax'"):
            getattr(app, action)(RECORDS, view.id, reason="r", actor="service:records")
    with pytest.raises(NotAllowed):
        app.complete(RECORDS, view.id, "r", "service:records")
    assert written(node) == before
    assert app.get(view.id).status is S.IN_REVIEW


def test_only_the_citizen_can_withdraw_or_provide_information(
    app: TransactionsApplication, node: Node
) -> None:
    view = submit(app)
    app.start_review(TAX, view.id, "assigned", OFFICER)
    app.request_information(TAX, view.id, "the March payslip", OFFICER)
    before = written(node)
    with pytest.raises(NotAllowed, match="another citizen"):
        app.provide_information(as_citizen(STRANGER), view.id, [PAYSLIP], "", PORTAL)
    with pytest.raises(NotAllowed, match="another citizen"):
        app.withdraw(as_citizen(STRANGER), view.id, "not mine", PORTAL)
    # A citizen is named by their token's subject; a name that is no citizen id owns nothing.
    with pytest.raises(NotAllowed, match="another citizen"):
        app.withdraw(as_citizen("someone"), view.id, "moved abroad", PORTAL)
    assert written(node) == before
    assert (
        app.withdraw(as_citizen(CITIZEN.upper()), view.id, "moved abroad", PORTAL).status
        is S.WITHDRAWN
    )


def test_unknown_and_malformed_ids(app: TransactionsApplication, node: Node) -> None:
    node.accounts.create("tax-office", "agency:tax", actor="cli:test")  # a stream, not a case
    before = written(node)
    for transaction_id in (str(uuid.uuid4()), str(account_id("tax-office"))):
        with pytest.raises(NotFound):
            app.get(transaction_id)
        with pytest.raises(NotFound):
            app.start_review(TAX, transaction_id, "assigned", OFFICER)
        with pytest.raises(NotFound):
            app.withdraw(OWNER, transaction_id, "moved abroad", PORTAL)
    calls: list[Callable[[str], TransactionView]] = [
        app.get,
        lambda malformed: app.approve(TAX, malformed, "conforms", OFFICER),
        lambda malformed: app.provide_information(OWNER, malformed, [PAYSLIP], "", PORTAL),
    ]
    for malformed in ("", "42", "not-a-uuid"):
        for call in calls:
            with pytest.raises(InvalidInput) as raised:
                call(malformed)
            assert [v.field for v in raised.value.violations] == ["transaction_id"]
    assert written(node) == before


FIFTY_ONE = [hashlib.sha256(bytes([i])).hexdigest() for i in range(51)]
BAD_SUBMISSIONS: list[tuple[dict[str, Any], set[str]]] = [
    ({"idempotency_key": ""}, {"idempotency_key"}),
    ({"idempotency_key": "k" * 129}, {"idempotency_key"}),
    ({"idempotency_key": "with space"}, {"idempotency_key"}),
    ({"idempotency_key": "ключ"}, {"idempotency_key"}),
    ({"service_code": "tax.lottery"}, {"service_code"}),
    ({"citizen_id": "citizen-42"}, {"citizen_id"}),
    ({"citizen_id": ""}, {"citizen_id"}),
    ({"amount_minor": -1}, {"amount.minor_units"}),
    ({"amount_minor": 10**15 + 1}, {"amount.minor_units"}),
    ({"amount_minor": True}, {"amount.minor_units"}),
    ({"amount_minor": 12.5}, {"amount.minor_units"}),
    ({"amount_minor": None}, {"amount.minor_units"}),  # tax.payment requires an amount
    ({"currency": "eur"}, {"amount.currency"}),
    ({"currency": "XAU"}, {"amount.currency"}),
    ({"currency": None}, {"amount.currency"}),
    (
        {"service_code": "tax.return", "currency": None},
        {"amount.currency"},
    ),  # optional: both or none
    (
        {"agency": "records", "service_code": "records.request"},
        {"amount.minor_units", "amount.currency"},
    ),
    ({"documents": [RECEIPT.upper()]}, {"documents[0]"}),
    ({"documents": [RECEIPT, RECEIPT[:-1]]}, {"documents[1]"}),
    ({"documents": [RECEIPT, RECEIPT]}, {"documents"}),
    ({"documents": FIFTY_ONE}, {"documents"}),
    ({"documents": ["not a hash"] * 10_000}, {"documents"}),  # one violation, not 10 000
    ({"note": "n" * 2001}, {"note"}),
    ({"idempotency_key": "", "note": "n" * 2001}, {"idempotency_key", "note"}),
]


def test_a_bad_submission_is_invalid_input_naming_the_field(
    app: TransactionsApplication, node: Node
) -> None:
    before = written(node)
    for change, fields in BAD_SUBMISSIONS:
        with pytest.raises(InvalidInput) as raised:
            submit(app, **change)
        assert {v.field for v in raised.value.violations} == fields, change
    assert written(node) == before
    # the limits themselves are accepted
    limits: dict[str, Any] = {
        "idempotency_key": "k" * 128,
        "amount_minor": 0,
        "documents": FIFTY_ONE[:50],
    }
    assert submit(app, **limits, note="n" * 2000).status is S.SUBMITTED


def test_reasons_and_provided_information_are_checked(
    app: TransactionsApplication, node: Node
) -> None:
    view = submit(app)
    app.start_review(TAX, view.id, "assigned", OFFICER)
    app.request_information(TAX, view.id, "the March payslip", OFFICER)
    before = written(node)
    cases: list[tuple[Callable[[], TransactionView], str]] = [
        (lambda: app.reject(TAX, view.id, "  ", OFFICER), "reason"),
        (lambda: app.request_information(TAX, view.id, "", OFFICER), "reason"),
        (lambda: app.resume_review(TAX, view.id, "r" * 2001, OFFICER), "reason"),
        (lambda: app.withdraw(OWNER, view.id, "r" * 2001, PORTAL), "reason"),
        (lambda: app.provide_information(OWNER, view.id, [], " ", PORTAL), "documents"),
        (lambda: app.provide_information(OWNER, view.id, ["nope"], "", PORTAL), "documents[0]"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidInput) as raised:
            call()
        assert [v.field for v in raised.value.violations] == [field]
    assert written(node) == before


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
@pytest.mark.parametrize("action", sorted(set(MODEL) - {"provide_information"}))
def test_every_step_requires_a_reason_and_writes_nothing_without_one(
    app: TransactionsApplication, node: Node, action: str, blank: str
) -> None:
    view = submit(app)
    for earlier in PATHS[next(iter(MODEL[action][0]))]:  # to a status the step is legal from
        act(app, earlier, view.id)
    before = written(node)
    step: Callable[[], TransactionView] = (
        (lambda: app.withdraw(OWNER, view.id, blank, PORTAL))
        if action == "withdraw"
        else (lambda: getattr(app, action)(TAX, view.id, reason=blank, actor=OFFICER))
    )
    with pytest.raises(InvalidInput) as raised:
        step()
    assert [v.field for v in raised.value.violations] == ["reason"]
    assert written(node) == before
    assert act(app, action, view.id).status is MODEL[action][1]  # and with one, it is taken


def test_a_case_is_only_opened_for_a_registered_citizen(node: Node, clock: Clock) -> None:
    asked: list[str] = []

    def registered(citizen_id: str) -> bool:
        asked.append(citizen_id)
        return citizen_id == CITIZEN

    app = TransactionsApplication(node.store, clock=clock, citizen_exists=registered)
    before = written(node)
    with pytest.raises(NotFound) as raised:
        submit(app, citizen_id=STRANGER.upper())
    assert raised.value.reason == "CITIZEN_NOT_FOUND"
    assert asked == [STRANGER]  # asked with the canonical id
    assert written(node) == before
    assert submit(app).citizen_id == CITIZEN
    # A retry of an accepted submission is answered from the ledger, without asking again.
    asked.clear()
    assert submit(app).citizen_id == CITIZEN
    assert asked == []


def interleave(
    app: TransactionsApplication, monkeypatch: pytest.MonkeyPatch, rival_move: Callable[[], object]
) -> list[None]:
    """Make `app`'s next save come just after `rival_move`, as if another request won the race.
    Returns a list that grows by one per save attempted."""
    save = app.save
    saves: list[None] = []

    def save_after_the_rival(*args: Any, **kwargs: Any) -> Any:
        saves.append(None)
        if len(saves) == 1:
            rival_move()
        return save(*args, **kwargs)

    monkeypatch.setattr(app, "save", save_after_the_rival)
    return saves


def test_a_retry_records_a_step_still_legal_after_a_concurrent_change(
    app: TransactionsApplication, node: Node, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = submit(app)
    app.start_review(TAX, view.id, "assigned", OFFICER)
    rival = TransactionsApplication(node.store, clock=clock, citizen_exists=REGISTERED.__contains__)
    saves = interleave(
        app, monkeypatch, lambda: rival.request_information(TAX, view.id, "payslip", OFFICER)
    )
    assert app.withdraw(OWNER, view.id, "moved abroad", PORTAL).status is S.WITHDRAWN
    assert len(saves) == 2
    assert [status for status, _ in app.get(view.id).history] == [
        S.SUBMITTED,
        S.IN_REVIEW,
        S.INFORMATION_REQUESTED,
        S.WITHDRAWN,
    ]


def test_a_retry_refuses_a_step_a_concurrent_change_made_illegal(
    app: TransactionsApplication, node: Node, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = submit(app)
    app.start_review(TAX, view.id, "assigned", OFFICER)
    rival = TransactionsApplication(node.store, clock=clock, citizen_exists=REGISTERED.__contains__)
    saves = interleave(
        app, monkeypatch, lambda: rival.withdraw(OWNER, view.id, "moved abroad", PORTAL)
    )
    before = written(node)
    with pytest.raises(FailedPrecondition, match="cannot approve a transaction that is WITHDRAWN"):
        app.approve(TAX, view.id, "fine", OFFICER)
    assert len(saves) == 1  # the second attempt stopped at the decision
    assert written(node) == before + 1  # the rival's withdrawal only
    assert topics(node, view.id)[-1] == "ledger.Transaction.Withdrawn"


def test_endless_concurrent_changes_end_in_aborted(
    app: TransactionsApplication, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = submit(app)
    before = written(node)

    def always_beaten(*args: Any, **kwargs: Any) -> Any:
        raise IntegrityError("a rival saved first")

    monkeypatch.setattr(app, "save", always_beaten)
    with pytest.raises(Aborted, match="concurrently"):  # ABORTED: the caller retries the call
        app.start_review(TAX, view.id, "assigned", OFFICER)
    assert written(node) == before


# --- reference numbers --------------------------------------------------------------------------


def test_references_are_readable_stable_and_checked() -> None:
    transaction_id = Transaction.create_id("transport", "r-1")
    reference = reference_for(transaction_id, "licence.driving.renewal", T0)
    assert reference == reference_for(transaction_id, "licence.driving.renewal", T0)
    assert reference.startswith("LICENCE-2026-")
    assert is_valid_reference(reference)
    assert reference != reference_for(Transaction.create_id("transport", "r-2"), "licence.x", T0)
    for position in range(len(reference) - 11, len(reference)):  # every mistyped symbol is caught
        if reference[position] == "-":
            continue
        for symbol in CROCKFORD.replace(reference[position], ""):
            typo = reference[:position] + symbol + reference[position + 1 :]
            assert not is_valid_reference(typo), typo
    assert not is_valid_reference(reference.lower())


# --- the aggregate against the model ------------------------------------------------------------


class TransactionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.transaction = Transaction(
            agency="tax",
            idempotency_key="model",
            service_code="tax.payment",
            citizen_id=CITIZEN,
            reference="TAX-2026-00000-00000",
            amount_minor=1,
            currency="EUR",
            documents=[RECEIPT],
            note="",
            at=T0,
            actor=PORTAL,
        )
        self.events = list(self.transaction.collect_events())
        self.status = S.SUBMITTED
        self.history = [(S.SUBMITTED, T0)]
        self.documents = [RECEIPT]
        self.decided_at: datetime | None = None

    @rule(
        action=st.sampled_from(sorted(MODEL)),
        text=st.sampled_from(["", "a", "b"]),
        minutes=st.integers(min_value=0, max_value=60 * 24 * 30),
    )
    def act(self, action: str, text: str, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        legal, target = MODEL[action]
        if self.status not in legal:
            with pytest.raises(FailedPrecondition):
                self._command(action, text)
            assert self.transaction.collect_events() == []
            return
        self._command(action, text)
        new = self.transaction.collect_events()
        assert len(new) == 1
        self.events.extend(new)
        self.status = target
        self.history.append((target, self.now))
        if action in ("approve", "reject"):
            self.decided_at = self.now
        if action == "provide_information" and text and _hash(text) not in self.documents:
            self.documents.append(_hash(text))

    def _command(self, action: str, text: str) -> None:
        if action == "provide_information":
            documents = [_hash(text)] if text else []
            self.transaction.provide_information(documents, text, at=self.now, actor=PORTAL)
        else:
            getattr(self.transaction, action)(text, at=self.now, actor=OFFICER)

    @invariant()
    def the_transaction_matches_the_model(self) -> None:
        transaction = self.transaction
        assert transaction.status is self.status
        assert transaction.history == self.history
        assert transaction.decided_at == self.decided_at
        assert transaction.documents == self.documents

    @invariant()
    def replaying_the_events_gives_the_same_transaction(self) -> None:
        rebuilt = None
        for domain_event in self.events:
            rebuilt = domain_event.mutate(rebuilt)
        assert isinstance(rebuilt, Transaction)
        assert rebuilt.status is self.transaction.status
        assert rebuilt.history == self.transaction.history
        assert rebuilt.decided_at == self.transaction.decided_at
        assert rebuilt.documents == self.transaction.documents
        assert rebuilt.version == self.transaction.version


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


TransactionMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=30, deadline=None
)
TestTransactionModel = TransactionMachine.TestCase
