"""Government transactions: a citizen's permit, licence, tax, records or benefit case.

The lifecycle, decided by the aggregate (an illegal step raises FailedPrecondition, records
nothing):

    SUBMITTED ─start_review─▶ IN_REVIEW ─approve─▶ APPROVED ─complete─▶ COMPLETED
                              │      ▲  └─reject──▶ REJECTED
         request_information  │      │  provide_information (citizen) or resume_review (agency)
                              ▼      │
                         INFORMATION_REQUESTED
    withdraw (citizen), before a decision: SUBMITTED | IN_REVIEW | INFORMATION_REQUESTED
                                                                              ─▶ WITHDRAWN

- A decision (approve, reject) is taken only IN_REVIEW: an agency that stops waiting for
  information resumes the review first, so the ledger shows what the decision was based on.
- REJECTED, COMPLETED and WITHDRAWN are final. An appeal or a second try is a new transaction
  (a new idempotency key), so each decision stays a fact nobody revises.
- Every step but the citizen's providing information states a reason (the citizen reads it in
  their history); a case is only opened for a registered citizen who was not erased.

Reference numbers, for people (the id stays the key): `<PREFIX>-<YYYY>-<XXXXX>-<XXXXC>`, e.g.
`TAX-2026-4F7Q9-K2XM7`. PREFIX is the service code's first segment upper-cased, YYYY the year of
submission, then nine Crockford base-32 symbols carrying the top 45 bits of the id (a UUIDv5,
so hash output) and C a Luhn mod-32 check symbol: any single mistyped symbol is caught. 45 bits
keep collisions unlikely (about 1.4% chance of any one among a million cases of one prefix in
one year), and since the reference is not a key a collision only makes two cases look alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError

from ledger.catalogue import ServiceCatalogue, ServiceEntry
from ledger.errors import (
    Aborted,
    Conflict,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from ledger.events import LedgerAggregate
from ledger.retry import retry_on_conflict
from ledger.sealing import CitizenFields, Unsealed
from ledger.store import LedgerApplication, LedgerStore

TRANSACTION_NAMESPACE = uuid5(NAMESPACE_URL, "civitas:transaction")
CONFLICT_RETRIES = 5
MAX_TEXT = 2000
MAX_DOCUMENTS = 50
MAX_AMOUNT_MINOR = 10**15  # well inside JSON's and protobuf's exact integers
CURRENCIES = frozenset(
    ("EUR", "USD", "GBP", "SEK", "NOK", "DKK", "PLN", "CHF", "CZK", "HUF", "RON", "BGN")
)
# Visible ASCII only: the key is echoed in logs and headers, and cannot contain the newline
# that separates it from the agency in the id's name.
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,128}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_BITS = 45
REFERENCE = re.compile(rf"[A-Z]+-[0-9]{{4}}-[{CROCKFORD}]{{5}}-[{CROCKFORD}]{{5}}")

Clock = Callable[[], datetime]
# Whether a citizen id names a registered citizen who was not erased. A function, not the
# identity application: `ledger` is the core that `identity` builds on and cannot import it,
# so the composition root (civitas/node.py) passes the identity application's answer in.
CitizenExists = Callable[[str], bool]


class Parties(Protocol):
    """Whose case it is: all a check of the caller reads (a Transaction or its view)."""

    @property
    def agency(self) -> str: ...

    @property
    def citizen_id(self) -> str: ...


# Whether the caller may act on (or read) this case. Only the API layer knows the caller, so it
# decides (civitas/api/authorization.py); the application asks once the case is loaded and
# before anything changes, and the check raises NotAllowed to refuse.
CaseCheck = Callable[[Parties], None]


class Step(Protocol):
    """One of the agency's commands on `Transaction`, such as `Transaction.approve`."""

    def __call__(
        self, transaction: Transaction, reason: str, /, *, at: datetime, actor: str
    ) -> None: ...


class TransactionStatus(str, Enum):  # noqa: UP042 - the agreed (str, Enum) interface
    SUBMITTED = "SUBMITTED"
    IN_REVIEW = "IN_REVIEW"
    INFORMATION_REQUESTED = "INFORMATION_REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"


@dataclass(frozen=True)
class Transition:
    """What one lifecycle event does: the command that records it, the status it enters, the
    statuses it may be recorded in, and whether it decides the case."""

    command: str
    enters: TransactionStatus
    allowed_from: frozenset[TransactionStatus]
    decides: bool = False


S = TransactionStatus
# The lifecycle, by stable event name: the aggregate checks and applies it, the queue and the
# statistics read model (projections/) read it, so a new step is added here once.
LIFECYCLE: dict[str, Transition] = {
    "Submitted": Transition("submit", S.SUBMITTED, frozenset()),
    "ReviewStarted": Transition("start_review", S.IN_REVIEW, frozenset({S.SUBMITTED})),
    "InformationRequested": Transition(
        "request_information", S.INFORMATION_REQUESTED, frozenset({S.IN_REVIEW})
    ),
    "InformationProvided": Transition(
        "provide_information", S.IN_REVIEW, frozenset({S.INFORMATION_REQUESTED})
    ),
    "ReviewResumed": Transition("resume_review", S.IN_REVIEW, frozenset({S.INFORMATION_REQUESTED})),
    "Approved": Transition("approve", S.APPROVED, frozenset({S.IN_REVIEW}), decides=True),
    "Rejected": Transition("reject", S.REJECTED, frozenset({S.IN_REVIEW}), decides=True),
    "Completed": Transition("complete", S.COMPLETED, frozenset({S.APPROVED})),
    "Withdrawn": Transition(
        "withdraw", S.WITHDRAWN, frozenset({S.SUBMITTED, S.IN_REVIEW, S.INFORMATION_REQUESTED})
    ),
}


def lifecycle_topic(event_name: str) -> str:
    """The stored topic (stable name) of a lifecycle event, e.g. `ledger.Transaction.Approved`."""
    return f"{Transaction.TOPIC}.{event_name}"


def reference_for(transaction_id: UUID, service_code: str, submitted_at: datetime) -> str:
    value = transaction_id.int >> (128 - REFERENCE_BITS)
    symbols = "".join(CROCKFORD[(value >> shift) & 31] for shift in range(40, -1, -5))
    body = symbols + _check_symbol(symbols)
    prefix = service_code.split(".", maxsplit=1)[0].upper()
    return f"{prefix}-{submitted_at.year:04d}-{body[:5]}-{body[5:]}"


def is_valid_reference(reference: str) -> bool:
    """Whether `reference` is well formed and its check symbol matches (e.g. as typed in)."""
    if not REFERENCE.fullmatch(reference):
        return False
    body = reference[-11:].replace("-", "")
    return _check_symbol(body[:-1]) == body[-1]


def _check_symbol(symbols: str) -> str:
    # Luhn mod N (N = 32): doubling every second symbol from the right catches every single
    # substitution and most adjacent transpositions.
    total = 0
    for position, symbol in enumerate(reversed(symbols)):
        value = CROCKFORD.index(symbol) * (2 if position % 2 == 0 else 1)
        total += value // 32 + value % 32
    return CROCKFORD[-total % 32]


@dataclass(frozen=True)
class Submission:
    """What a submit asks for, beyond (agency, idempotency key): equal submissions are retries."""

    service_code: str
    citizen_id: str
    amount_minor: int | None
    currency: str | None
    documents: tuple[str, ...]
    note: str


class Transaction(LedgerAggregate):
    @staticmethod
    def create_id(agency: str, idempotency_key: str) -> UUID:
        return uuid5(TRANSACTION_NAMESPACE, f"{agency}\n{idempotency_key}")

    @event("Submitted")
    def __init__(
        self,
        agency: str,
        idempotency_key: str,
        service_code: str,
        citizen_id: str,
        reference: str,
        amount_minor: int | None,
        currency: str | None,
        documents: list[str],
        note: str,
        at: datetime,
        actor: str,
    ) -> None:
        self.agency = agency
        self.idempotency_key = idempotency_key
        self.service_code = service_code
        self.citizen_id = citizen_id
        self.reference = reference
        self.amount_minor = amount_minor
        self.currency = currency
        self.submitted_documents = tuple(documents)
        self.documents = list(documents)  # and those provided later, each once
        self.note = note
        self.status = LIFECYCLE["Submitted"].enters
        self.history: list[tuple[TransactionStatus, datetime]] = [(self.status, at)]
        self.submitted_at = at
        self.decided_at: datetime | None = None

    def submission(self) -> Submission:
        return Submission(
            self.service_code,
            self.citizen_id,
            self.amount_minor,
            self.currency,
            self.submitted_documents,
            self.note,
        )

    # --- commands: check, then record -----------------------------------------------------------

    def start_review(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("ReviewStarted")
        self._review_started(reason, at, actor=actor)

    def request_information(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("InformationRequested")
        self._information_requested(reason, at, actor=actor)

    def provide_information(
        self, documents: Sequence[str], note: str, *, at: datetime, actor: str
    ) -> None:
        self._require("InformationProvided")
        self._information_provided(list(documents), note, at, actor=actor)

    def resume_review(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("ReviewResumed")
        self._review_resumed(reason, at, actor=actor)

    def approve(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("Approved")
        self._approved(reason, at, actor=actor)

    def reject(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("Rejected")
        self._rejected(reason, at, actor=actor)

    def complete(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("Completed")
        self._completed(reason, at, actor=actor)

    def withdraw(self, reason: str, *, at: datetime, actor: str) -> None:
        self._require("Withdrawn")
        self._withdrawn(reason, at, actor=actor)

    def _require(self, event_name: str) -> None:
        transition = LIFECYCLE[event_name]
        if self.status not in transition.allowed_from:
            action = transition.command.replace("_", " ")
            raise FailedPrecondition(
                f"cannot {action} a transaction that is {self.status.value}",
                reason="TRANSITION_NOT_ALLOWED",
                metadata={"status": self.status.value},
            )

    # --- events: state changes only -------------------------------------------------------------

    @event("ReviewStarted")
    def _review_started(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("ReviewStarted", at)

    @event("InformationRequested")
    def _information_requested(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("InformationRequested", at)

    @event("InformationProvided")
    def _information_provided(
        self, documents: list[str], note: str, at: datetime, actor: str
    ) -> None:
        self.documents.extend(d for d in documents if d not in self.documents)
        self._enter("InformationProvided", at)

    @event("ReviewResumed")
    def _review_resumed(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("ReviewResumed", at)

    @event("Approved")
    def _approved(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("Approved", at)

    @event("Rejected")
    def _rejected(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("Rejected", at)

    @event("Completed")
    def _completed(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("Completed", at)

    @event("Withdrawn")
    def _withdrawn(self, reason: str, at: datetime, actor: str) -> None:
        self._enter("Withdrawn", at)

    def _enter(self, event_name: str, at: datetime) -> None:
        transition = LIFECYCLE[event_name]
        self.status = transition.enters
        self.history.append((self.status, at))
        if transition.decides:
            self.decided_at = at


@dataclass(frozen=True)
class TransactionView:
    id: str
    reference: str
    service_code: str
    agency: str
    citizen_id: str
    status: TransactionStatus
    amount_minor: int | None
    currency: str | None
    documents: tuple[str, ...]
    submitted_at: datetime
    decided_at: datetime | None
    history: tuple[tuple[TransactionStatus, datetime], ...]


class TransactionsApplication(LedgerApplication):
    def __init__(
        self,
        store: LedgerStore,
        *,
        catalogue: ServiceCatalogue | None = None,
        clock: Clock,
        citizen_exists: CitizenExists,
        fields: CitizenFields | None = None,
    ) -> None:
        super().__init__(store)
        self.catalogue = catalogue or ServiceCatalogue.load()
        self._clock = clock
        self._citizen_exists = citizen_exists
        # Notes and reasons may name the person: sealed with the citizen's key (ledger/sealing.py).
        self._fields: CitizenFields = fields or Unsealed()

    def submit(
        self,
        agency: str,
        idempotency_key: str,
        service_code: str,
        citizen_id: str,
        amount_minor: int | None,
        currency: str | None,
        documents: Sequence[str],
        note: str,
        actor: str,
    ) -> TransactionView:
        entry = self.catalogue.get(service_code)
        submission = _valid_submission(
            entry, idempotency_key, citizen_id, amount_minor, currency, documents, note
        )
        if entry.agency != agency:
            raise NotAllowed(
                f"agency {agency!r} does not handle {service_code!r}",
                reason="SERVICE_OF_ANOTHER_AGENCY",
            )
        transaction_id = Transaction.create_id(agency, idempotency_key)
        existing = self._find(transaction_id)
        if existing is not None:
            return self._retried(existing, submission)
        if not self._citizen_exists(submission.citizen_id):
            raise NotFound("no such citizen, or the citizen was erased", reason="CITIZEN_NOT_FOUND")
        sealed_note = self._sealed(submission.citizen_id, "note", note)
        now = self._clock()
        transaction = Transaction(
            agency=agency,
            idempotency_key=idempotency_key,
            service_code=service_code,
            citizen_id=submission.citizen_id,
            reference=reference_for(transaction_id, service_code, now),
            amount_minor=amount_minor,
            currency=currency,
            documents=list(submission.documents),
            note=sealed_note,
            at=now,
            actor=actor,
        )
        try:
            self.save(transaction)
        except IntegrityError:
            # The same key was saved between our look and our save: a racing retry, or not.
            existing = self._find(transaction_id)
            if existing is None:
                raise Aborted("the transaction could not be saved; try again") from None
            return self._retried(existing, submission)
        return _view(transaction)

    def get(self, transaction_id: str) -> TransactionView:
        return _view(self._load(_parse_id(transaction_id)))

    # --- the agency's actions: each states its reason (what is missing, a refusal's grounds) ---

    def start_review(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        return self._as_agency(may_act, transaction_id, Transaction.start_review, reason, actor)

    def request_information(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        return self._as_agency(
            may_act, transaction_id, Transaction.request_information, reason, actor
        )

    def resume_review(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        return self._as_agency(may_act, transaction_id, Transaction.resume_review, reason, actor)

    def approve(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        return self._as_agency(may_act, transaction_id, Transaction.approve, reason, actor)

    def reject(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        return self._as_agency(may_act, transaction_id, Transaction.reject, reason, actor)

    def complete(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        return self._as_agency(may_act, transaction_id, Transaction.complete, reason, actor)

    # --- the citizen's actions ------------------------------------------------------------------

    def withdraw(
        self, may_act: CaseCheck, transaction_id: str, reason: str, actor: str
    ) -> TransactionView:
        _check_text("reason", reason, required=True)
        return self._update(
            _parse_id(transaction_id),
            may_act,
            lambda t, at: t.withdraw(
                self._sealed(t.citizen_id, "reason", reason), at=at, actor=actor
            ),
        )

    def provide_information(
        self,
        may_act: CaseCheck,
        transaction_id: str,
        documents: Sequence[str],
        note: str,
        actor: str,
    ) -> TransactionView:
        violations = _document_violations(documents) + _text_violations("note", note)
        if not documents and not note.strip():
            violations.append(FieldViolation("documents", "provide documents or a note"))
        if violations:
            raise InvalidInput(violations)
        return self._update(
            _parse_id(transaction_id),
            may_act,
            lambda t, at: t.provide_information(
                documents, self._sealed(t.citizen_id, "note", note), at=at, actor=actor
            ),
        )

    # --- helpers --------------------------------------------------------------------------------

    def _as_agency(
        self, may_act: CaseCheck, transaction_id: str, step: Step, reason: str, actor: str
    ) -> TransactionView:
        _check_text("reason", reason, required=True)
        return self._update(
            _parse_id(transaction_id),
            may_act,
            lambda t, at: step(t, self._sealed(t.citizen_id, "reason", reason), at=at, actor=actor),
        )

    def _sealed(self, citizen_id: str, field_name: str, value: str) -> str:
        sealed = self._fields.seal(citizen_id, field_name, value)
        if sealed is None:
            raise FailedPrecondition(
                "the case's citizen was erased: nothing more is recorded about them",
                reason="CITIZEN_ERASED",
            )
        return sealed

    def _retried(self, existing: Transaction, submission: Submission) -> TransactionView:
        """A submission of an existing key: the same case when it asks for the same."""
        note = self._fields.open(existing.citizen_id, "note", existing.note)
        if note is None:  # its citizen was erased: the note is unknowable, so not the same
            raise Conflict(
                "idempotency key reused with different parameters", reason="IDEMPOTENCY_KEY_REUSED"
            )
        return _retried(existing, submission, note)

    def _update(
        self,
        transaction_id: UUID,
        may_act: CaseCheck,
        change: Callable[[Transaction, datetime], None],
    ) -> TransactionView:

        def load_change_save() -> TransactionView:
            # Loaded afresh on every retry: someone else's change is decided on, not overwritten.
            transaction = self._load(transaction_id)
            may_act(transaction)
            change(transaction, self._clock())
            self.save(transaction)
            return _view(transaction)

        return retry_on_conflict(load_change_save, what="the transaction", retries=CONFLICT_RETRIES)

    def _find(self, transaction_id: UUID) -> Transaction | None:
        try:
            transaction: object = self.repository.get(transaction_id)
        except AggregateNotFoundError:
            return None
        return transaction if isinstance(transaction, Transaction) else None

    def _load(self, transaction_id: UUID) -> Transaction:
        transaction = self._find(transaction_id)
        if transaction is None:
            raise NotFound("no such transaction", reason="TRANSACTION_NOT_FOUND")
        return transaction


def _retried(existing: Transaction, submission: Submission, note: str) -> TransactionView:
    if replace(existing.submission(), note=note) != submission:
        raise Conflict(
            "idempotency key reused with different parameters", reason="IDEMPOTENCY_KEY_REUSED"
        )
    return _view(existing)


def _view(t: Transaction) -> TransactionView:
    return TransactionView(
        str(t.id), t.reference, t.service_code, t.agency, t.citizen_id, t.status, t.amount_minor,
        t.currency, tuple(t.documents), t.submitted_at, t.decided_at, tuple(t.history),
    )  # fmt: skip


def _valid_submission(
    entry: ServiceEntry,
    idempotency_key: str,
    citizen_id: str,
    amount_minor: int | None,
    currency: str | None,
    documents: Sequence[str],
    note: str,
) -> Submission:
    violations = _document_violations(documents) + _text_violations("note", note)
    if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        violations.append(FieldViolation("idempotency_key", "1-128 visible ASCII characters"))
    citizen = ""
    try:
        citizen = _canonical_uuid("citizen_id", citizen_id)
    except InvalidInput as error:
        violations.extend(error.violations)
    if amount_minor is not None and (
        type(amount_minor) is not int or not 0 <= amount_minor <= MAX_AMOUNT_MINOR
    ):
        violations.append(
            FieldViolation("amount.minor_units", "an integer from 0 to 10^15, in minor units")
        )
    if currency is not None and currency not in CURRENCIES:
        violations.append(
            FieldViolation("amount.currency", f"one of {', '.join(sorted(CURRENCIES))}")
        )
    violations += entry.amount_violations(amount_minor, currency)
    if violations:
        raise InvalidInput(violations)
    return Submission(entry.code, citizen, amount_minor, currency, tuple(documents), note)


def _document_violations(documents: Sequence[str]) -> list[FieldViolation]:
    if len(documents) > MAX_DOCUMENTS:  # one violation, not one per item of a huge list
        return [FieldViolation("documents", f"at most {MAX_DOCUMENTS}")]
    violations = [
        FieldViolation(f"documents[{i}]", "a SHA-256 content hash: 64 lowercase hex characters")
        for i, document in enumerate(documents)
        if not SHA256_HEX.fullmatch(document)
    ]
    if len(set(documents)) != len(documents):
        violations.append(FieldViolation("documents", "each document once"))
    return violations


def _text_violations(
    field_name: str, value: str, *, required: bool = False
) -> list[FieldViolation]:
    if required and not value.strip():
        return [FieldViolation(field_name, "is required")]
    if len(value) > MAX_TEXT:
        return [FieldViolation(field_name, f"at most {MAX_TEXT} characters")]
    return []


def _check_text(field_name: str, value: str, *, required: bool = False) -> None:
    violations = _text_violations(field_name, value, required=required)
    if violations:
        raise InvalidInput(violations)


def _canonical_uuid(field_name: str, value: str) -> str:
    try:
        return str(UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput.of(field_name, "must be a UUID") from None


def _parse_id(transaction_id: str) -> UUID:
    return UUID(_canonical_uuid("transaction_id", transaction_id))
