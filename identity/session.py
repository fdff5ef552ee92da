"""Sessions and authentication attempts, each an aggregate of its own.

An attempt carries the WebAuthn challenge from `BeginAuthentication` to `CompleteAuthentication`.
Being an aggregate in the shared store makes it valid across server replicas, and optimistic
concurrency makes it single-use: two completions of one attempt cannot both be saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from uuid import UUID

from eventsourcing.domain import event

from ledger.errors import FailedPrecondition, Unauthenticated
from ledger.events import LedgerAggregate

SessionRefusal = Literal["revoked", "expired", "idle", "rotated"]
# ErrorInfo reasons (ledger/errors.py) of a refused RefreshSession.
REFUSAL_REASONS: Final[dict[str, str]] = {
    "revoked": "SESSION_REVOKED",
    "expired": "SESSION_EXPIRED",
    "idle": "SESSION_IDLE",
    "rotated": "TOKEN_ROTATED",
}
_REFUSAL_MESSAGES: Final[dict[str, str]] = {
    "revoked": "the session was revoked",
    "expired": "the session reached its absolute end: sign in again",
    "idle": "the session was idle too long: sign in again",
    "rotated": "this token was already replaced by a refresh",
}
# Recorded in the Revoked event when a replaced token comes back (OAuth 2.0 Security BCP,
# RFC 9700 §4.14: refresh token reuse means that either the client or an attacker holds a
# copy, and the server cannot tell which, so it ends the session for both).
REUSE_REASON: Final = "token_reuse: a replaced token was presented again"


@dataclass(frozen=True)
class Refresh:
    """Who continues a session, recorded with the refresh like a sign-in's context."""

    relying_service: str
    client_address: str
    user_agent: str


class AuthenticationAttempt(LedgerAggregate):
    @event("Started")
    def __init__(
        self,
        citizen_id: str,
        challenge: str,
        expires_at: datetime,
        relying_service: str,
        actor: str,
        required_acr: str = "",
        require_user_verification: bool = False,
    ) -> None:
        self.citizen_id = citizen_id  # "" for a username-less attempt: the passkey names them
        self.challenge = challenge  # base64url; empty when the citizen has no passkey
        self.expires_at = expires_at
        self.relying_service = relying_service
        # What the relying service asked for (attempts started before it could ask: nothing).
        self.required_acr = required_acr
        self.require_user_verification = require_user_verification
        self.completed = False

    def refusal(self, now: datetime) -> str:
        """Why this attempt can no longer be completed, or "" when it can."""
        if self.completed:
            return "attempt_already_used"
        if now >= self.expires_at:
            return "attempt_expired"
        return ""

    def complete(self, succeeded: bool, actor: str, refusal: str = "") -> None:
        """Spend the attempt. *refusal* is given only when no citizen was found to record the
        refusal on (a username-less attempt whose passkey names nobody)."""
        if self.completed:
            raise FailedPrecondition(
                "this authentication attempt was already used", reason="ATTEMPT_ALREADY_USED"
            )
        if refusal:
            self._completed(succeeded, actor=actor, refusal=refusal)
        else:
            self._completed(succeeded, actor=actor)

    @event("Completed")
    def _completed(self, succeeded: bool, actor: str, refusal: str = "") -> None:
        self.completed = True


class SessionRefused(Unauthenticated):
    """A token no longer continues its session; `refusal` says why (IntrospectToken's reason)."""

    def __init__(self, refusal: SessionRefusal) -> None:
        super().__init__(_REFUSAL_MESSAGES[refusal], reason=REFUSAL_REASONS[refusal])
        self.refusal = refusal


class Session(LedgerAggregate):
    """A citizen's sign-in, continued by one token at a time.

    Each token names the session (`sid`) and has its own id (`jti`); the session remembers the
    current one. A refresh is the session's activity: it moves the idle deadline and replaces
    the token, so a token is never valid past the idle deadline or the absolute end, and an
    earlier token presented again is a copy someone kept (see `Session.refusal`).
    """

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
        token_id: str = "",
        idle_expires_at: datetime | None = None,
    ) -> None:
        # The id is chosen first: the citizen's success event names the session it opens.
        self.citizen_id = citizen_id
        self.acr = acr
        self.amr = amr
        self.relying_service = relying_service
        self.started_at = started_at
        self.expires_at = expires_at  # the absolute end: no refresh goes past it
        # Sessions recorded before tokens had ids and idle deadlines carry neither: their
        # tokens have no jti (so "" matches) and they end at the absolute end alone.
        self.token_id = token_id
        self.idle_expires_at = idle_expires_at or expires_at
        self.revoked = False
        self.revoked_reason = ""

    def refusal(self, token_id: str, now: datetime) -> SessionRefusal | None:
        """Why the token with id *token_id* no longer speaks for this session, or None.

        Only the current token is accepted: any other that Civitas signed for this session was
        rotated away by a refresh, so whoever presents it holds a copy of a replaced token.
        """
        if self.revoked:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        if now >= self.idle_expires_at:
            return "idle"
        if token_id != self.token_id:
            return "rotated"
        return None

    def token_expires_at(self) -> datetime:
        """The current token's `exp`: the idle deadline or the absolute end, whichever is first."""
        return min(self.idle_expires_at, self.expires_at)

    def refresh(
        self,
        presented_token_id: str,
        new_token_id: str,
        now: datetime,
        idle: timedelta,
        context: Refresh,
        actor: str,
    ) -> None:
        refusal = self.refusal(presented_token_id, now)
        if refusal is not None:
            raise SessionRefused(refusal)
        self._refreshed(
            new_token_id,
            now,
            min(now + idle, self.expires_at),
            context.relying_service,
            context.client_address,
            context.user_agent,
            actor=actor,
        )

    @event("Refreshed")
    def _refreshed(
        self,
        token_id: str,
        at: datetime,
        idle_expires_at: datetime,
        relying_service: str,
        client_address: str,
        user_agent: str,
        actor: str,
    ) -> None:
        self.token_id = token_id
        self.idle_expires_at = idle_expires_at

    def revoke(self, reason: str, actor: str) -> None:
        if not self.revoked:
            self._revoked(reason, actor=actor)

    @event("Revoked")
    def _revoked(self, reason: str, actor: str) -> None:
        self.revoked = True
        self.revoked_reason = reason
