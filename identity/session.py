"""Sessions and authentication attempts, each an aggregate of its own.

An attempt carries the WebAuthn challenge from `BeginAuthentication` to `CompleteAuthentication`.
Being an aggregate in the shared store makes it valid across server replicas, and optimistic
concurrency makes it single-use: two completions of one attempt cannot both be saved.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from ledger.errors import FailedPrecondition
from ledger.events import LedgerAggregate


class AuthenticationAttempt(LedgerAggregate):
    @event("Started")
    def __init__(
        self,
        citizen_id: str,
        challenge: str,
        expires_at: datetime,
        relying_service: str,
        actor: str,
    ) -> None:
        self.citizen_id = citizen_id
        self.challenge = challenge  # base64url; empty when the citizen has no passkey
        self.expires_at = expires_at
        self.relying_service = relying_service
        self.completed = False

    def refusal(self, now: datetime) -> str:
        """Why this attempt can no longer be completed, or "" when it can."""
        if self.completed:
            return "attempt_already_used"
        if now >= self.expires_at:
            return "attempt_expired"
        return ""

    def complete(self, succeeded: bool, actor: str) -> None:
        if self.completed:
            raise FailedPrecondition(
                "this authentication attempt was already used", reason="ATTEMPT_ALREADY_USED"
            )
        self._completed(succeeded, actor=actor)

    @event("Completed")
    def _completed(self, succeeded: bool, actor: str) -> None:
        self.completed = True


class Session(LedgerAggregate):
    @event("Started")
    def __init__(
        self,
        id: UUID,
        citizen_id: str,
        acr: str,
        amr: list[str],
        relying_service: str,
        started_at: datetime,
        expires_at: datetime,
        actor: str,
    ) -> None:
        # The id is chosen first: the citizen's success event names the session it opens.
        self.citizen_id = citizen_id
        self.acr = acr
        self.amr = amr
        self.relying_service = relying_service
        self.started_at = started_at
        self.expires_at = expires_at
        self.revoked = False

    def revoke(self, reason: str, actor: str) -> None:
        if not self.revoked:
            self._revoked(reason, actor=actor)

    @event("Revoked")
    def _revoked(self, reason: str, actor: str) -> None:
        self.revoked = True

    def is_active(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at
