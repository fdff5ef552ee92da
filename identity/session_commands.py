"""A citizen's sessions and their tokens: introspection, refresh, revocation and listing.
Who may list or end a citizen's sessions is decided in `identity.authority`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from identity.application_base import (
    CitizenErased,
    IdentityBase,
    Introspection,
    SignedIn,
    check_token_field,
    new_token_id,
    require_uuid,
)
from identity.authority import ProofChecks, SessionsAsker, require_session_ender
from identity.citizen_fields import sealed_client
from identity.personal_data import (
    DataKeyMissing,
)
from identity.session import (
    REUSE_REASON,
    Refresh,
    Session,
    SessionRefused,
)
from identity.session_list import SessionPage, active_page
from identity.tokens import MAX_TOKEN_LENGTH, TokenError
from identity.validation import (
    client_violations,
    require_text,
)
from ledger.accounts import Caller
from ledger.errors import (
    FailedPrecondition,
    InvalidInput,
    Unauthenticated,
)
from ledger.mapper import PayloadErased
from ledger.retry import retry_on_conflict


class SessionCommands(ProofChecks, IdentityBase):
    def introspect(self, token: str) -> Introspection:
        check_token_field(token)
        now = self._clock()
        try:
            claims = self._tokens.verify(token, now)
        except TokenError as error:
            return Introspection(False, error.reason)
        session = self._session_of(claims)
        if session is None:
            return Introspection(False, "unknown_session")
        if not self._data_keys.holds(UUID(session.citizen_id)):
            # Erasure revokes every session; this also ends those of citizens erased before it did.
            return Introspection(False, "citizen_erased", claims)
        # Only a refresh moves the session's deadlines, and it is the caller's refresh that
        # counts as activity: introspection reads and never writes.
        refusal = session.refusal(str(claims.get("jti", "")), now)
        if refusal is not None:
            return Introspection(False, refusal, claims)
        return Introspection(True, "", claims)

    def refresh_session(
        self, token: str, client: tuple[str, str], relying_service: str, actor: str
    ) -> SignedIn:
        """A new token for the session of *token*, which stops being accepted.

        A replaced token presented again revokes the session (`REUSE_REASON`) before the
        refusal: the legitimate holder and whoever copied the token both sign in again.
        """
        check_token_field(token)
        if violations := client_violations(client):
            raise InvalidInput(violations)
        context = Refresh(relying_service, client[0], client[1])
        # Another refresh or a revocation may save first: each retry decides on the new state.
        return retry_on_conflict(
            lambda: self._refresh_once(token, context, actor), what="the session"
        )

    def _refresh_once(self, token: str, context: Refresh, actor: str) -> SignedIn:
        now = self._clock()
        try:
            # The session, not the token's copy of its deadline, says whether it is still
            # going, and tells an idle session from an ended one.
            claims = self._tokens.verify(token, now, check_expiry=False)
        except TokenError as error:
            raise Unauthenticated(f"token refused: {error}", reason="INVALID_TOKEN") from None
        session = self._session_of(claims)
        if session is None or claims.get("sub") != session.citizen_id:
            raise Unauthenticated("the token names no session", reason="INVALID_TOKEN")
        try:
            sealer = self._sealer(self._citizen(session.citizen_id))
        except FailedPrecondition:  # erased (the aggregate, or only its key so far)
            raise Unauthenticated("the citizen was erased", reason="CITIZEN_ERASED") from None
        context = sealed_client(sealer, context)
        presented = str(claims.get("jti", ""))
        if session.refusal(presented, now) == "rotated":
            session.revoke(REUSE_REASON, actor=actor)
            self.save(session)
            raise SessionRefused("rotated")
        session.refresh(
            presented, new_token_id(), now, self.settings.session_idle, context, actor=actor
        )
        self.save(session)
        return self._signed_in(session, now)

    def _signed_in(self, session: Session, now: datetime) -> SignedIn:
        token, expires_at = self._tokens.issue(session, now)
        return SignedIn(str(session.id), token, session.acr, list(session.amr), expires_at)

    def _session_of(self, claims: dict[str, Any]) -> Session | None:
        try:
            session: object = self.repository.get(UUID(str(claims["sid"])))
        except (AggregateNotFoundError, PayloadErased, ValueError, KeyError):
            return None  # PayloadErased: its citizen was erased
        return session if isinstance(session, Session) else None

    def citizen_caller(self, token: str) -> Caller | None:
        """The citizen a token speaks for, while its session is active."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        result = self.introspect(token)
        return Caller(str(result.claims["sub"]), "citizen") if result.active else None

    def revoke_session(
        self, session_id: str, reason: str, actor: str, asker: SessionsAsker
    ) -> Session:
        """End a session, for the citizen (*asker*'s relayed token), the relying service that
        opened it, or an admin (`identity.authority.require_session_ender`)."""
        require_text("reason", reason)
        require_uuid("session_id", session_id)  # the request's fields first, then who asks
        proof = self._session_ender(asker)

        def revoke() -> Session:
            # Loaded afresh on every retry: a refresh that saved first is revoked as it is now.
            try:
                session: Session = self._get(Session, session_id, "session_id")
            except PayloadErased:  # erasure revoked it and erased its refreshes
                raise CitizenErased("this session's citizen was erased") from None
            require_session_ender(asker, proof, session.citizen_id, session.relying_service)
            # A reason may name the person ("phone stolen from …"): sealed with their key.
            try:
                sealer = self._data_keys.sealer(UUID(session.citizen_id))
            except DataKeyMissing:
                raise CitizenErased("this session's citizen was erased") from None
            session.revoke(sealer.seal("reason", reason) if reason else "revoked", actor=actor)
            self.save(session)
            return session

        return retry_on_conflict(revoke, what="the session")

    def list_sessions(
        self, citizen_id: str, asker: SessionsAsker, page_size: int = 0, page_token: str = ""
    ) -> SessionPage:
        """The citizen's active sessions, a page at a time, for the citizen (*asker*'s relayed
        token) or an admin."""
        self._require_sessions_reader(asker, require_uuid("citizen_id", citizen_id))
        citizen = self._citizen(citizen_id)
        return active_page(
            citizen.session_ids,
            lambda session_id: self.repository.get(UUID(session_id)),
            self._clock(),
            page_size,
            page_token,
        )

    def jwks_json(self) -> dict[str, object]:
        return self._tokens.jwks()
