"""Admin recovery, for a citizen who lost every factor (NIST SP 800-63B section 6.1.2.3 and
Login.gov's waiting period): an admin starts it with a stated reason and the reference of the
proofing that re-identified the citizen; it takes effect only after a waiting period, during
which the citizen's history shows it and any session of theirs can cancel it. Completing it
removes every authenticator, revokes every session and issues a fresh activation code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from identity.activation import hash_activation_code, new_activation_code
from identity.authority import CitizenProof, SessionProof
from ledger.errors import FailedPrecondition, InvalidInput
from ledger.retry import retry_on_conflict

if TYPE_CHECKING:
    from identity.citizen import Citizen
    from identity.personal_data import FieldSealer

MAX_REASON = 500


@dataclass
class PendingRecovery:
    started_at: datetime
    effective_at: datetime
    reason: str
    evidence_reference: str


@dataclass(frozen=True)
class RecoveryState:
    """A recovery as the caller sees it; `activation_code` only from its completion."""

    citizen_id: str
    status: str  # pending | cancelled | completed
    started_at: datetime
    effective_at: datetime
    activation_code: str = ""
    activation_expires_at: datetime | None = None


class RecoveryPending(FailedPrecondition):
    reason = "RECOVERY_PENDING"


class NoRecoveryPending(FailedPrecondition):
    reason = "NO_RECOVERY_PENDING"


def waiting_refusal(recovery: PendingRecovery | None, now: datetime) -> FailedPrecondition | None:
    """Why a recovery cannot complete now, if it cannot."""
    if recovery is None:
        return NoRecoveryPending("no recovery of this citizen is pending")
    if now < recovery.effective_at:
        wait = (recovery.effective_at - now).total_seconds()
        return FailedPrecondition(
            "the recovery's waiting period has not passed",
            reason="RECOVERY_WAITING",
            retry_after=wait,
        )
    return None


def _require_text(field_name: str, value: str, *, required: bool = False) -> None:
    if required and not value.strip():
        raise InvalidInput.of(field_name, "is required")
    if len(value) > MAX_REASON:
        raise InvalidInput.of(field_name, f"at most {MAX_REASON} characters")


class _Settings(Protocol):
    @property
    def recovery_wait(self) -> timedelta: ...

    @property
    def activation_lifetime(self) -> timedelta: ...


class _Application(Protocol):
    """What the recovery commands use of the identity application they are mixed into."""

    @property
    def settings(self) -> _Settings: ...

    @property
    def repository(self) -> Any: ...

    def now(self) -> datetime: ...

    def save(self, *objs: Any) -> Any: ...

    def load_citizen(self, citizen_id: str) -> Citizen: ...

    def session_proof(self, proof: CitizenProof) -> SessionProof: ...

    def _sealer(self, citizen: Citizen) -> FieldSealer: ...


class RecoveryCommands:
    """The admin recovery path, mixed into `IdentityApplication`."""

    def start_recovery(
        self: _Application, citizen_id: str, reason: str, evidence_reference: str, actor: str
    ) -> RecoveryState:
        _require_text("reason", reason, required=True)
        _require_text("evidence_reference", evidence_reference, required=True)

        def start() -> PendingRecovery:
            citizen = self.load_citizen(citizen_id)
            now = self.now()
            # What the citizen reported and the proofing record name the person: sealed with
            # their key, each under its own name, so auditors never read them, erasure shreds
            # them, and the citizen's history opens them (`CitizenFields.opened_summary`).
            sealer = self._sealer(citizen)
            recovery = citizen.start_recovery(
                sealer.seal("reason", reason),
                sealer.seal("evidence_reference", evidence_reference),
                now,
                now + self.settings.recovery_wait,
                actor=actor,
            )
            self.save(citizen)
            return recovery

        recovery = retry_on_conflict(start)
        return RecoveryState(citizen_id, "pending", recovery.started_at, recovery.effective_at)

    def cancel_recovery(
        self: _Application, citizen_id: str, reason: str, proof: CitizenProof | None, actor: str
    ) -> RecoveryState:
        """With the citizen's *proof* (any session of theirs, no step-up: the point is that
        any factor they still hold can stop a recovery they did not ask for), or without it
        by an admin (the role table let only those call without one)."""
        _require_text("reason", reason)
        session = self.session_proof(proof) if proof is not None else None

        def cancel() -> PendingRecovery:
            citizen = self.load_citizen(citizen_id)
            if session is not None:
                citizen.require_session_proof(session, step_up=False)
            by = "citizen" if session is not None else "admin"
            recovery = citizen.cancel_recovery(reason or "cancelled", by, actor=actor)
            self.save(citizen)
            return recovery

        recovery = retry_on_conflict(cancel)
        return RecoveryState(citizen_id, "cancelled", recovery.started_at, recovery.effective_at)

    def complete_recovery(self: _Application, citizen_id: str, actor: str) -> RecoveryState:
        code = new_activation_code()

        def complete() -> tuple[PendingRecovery, datetime]:
            citizen = self.load_citizen(citizen_id)
            now = self.now()
            expires_at = now + self.settings.activation_lifetime
            recovery = citizen.complete_recovery(
                hash_activation_code(code), expires_at, now, actor=actor
            )
            sessions = [self.repository.get(UUID(s)) for s in citizen.session_ids]
            ended = [s for s in sessions if not s.revoked and now < s.expires_at]
            for session in ended:
                session.revoke("recovery completed: every session ends", actor=actor)
            self.save(citizen, *ended)  # one save: no factor gone while a session lives on
            return recovery, expires_at

        recovery, expires_at = retry_on_conflict(complete)
        return RecoveryState(
            citizen_id,
            "completed",
            recovery.started_at,
            recovery.effective_at,
            activation_code=code,
            activation_expires_at=expires_at,
        )
