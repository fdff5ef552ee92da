"""Only the citizen changes the citizen's authenticators, and only the citizen (or the service
that signed them in, or an admin) sees or ends their sessions.

A relying service or a registrar relays each change with the citizen's own proof: a token of
the citizen's active session, or their single-use activation code (`identity.activation`). No
capability of the caller replaces it (issue 13: an agency that could set a password could sign
in as the citizen). The step-up rule follows NIST SP 800-63B section 6.1.2.3 and Login.gov:
once the citizen's authenticators can reach AAL2, a change needs a session at AAL2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from identity.activation import MAX_CODE_LENGTH, hash_activation_code
from identity.tokens import MAX_TOKEN_LENGTH
from ledger.errors import FieldViolation, InvalidInput, NotAllowed

if TYPE_CHECKING:
    from identity.citizen import Citizen

ACR_RANK = {"AAL1": 1, "AAL2": 2, "AAL3": 3}


@dataclass(frozen=True)
class CitizenProof:
    """What the relying service relayed: one of the two, as the citizen gave it."""

    citizen_token: str = ""
    activation_code: str = ""

    def check(self) -> None:
        violations = []
        if len(self.citizen_token) > MAX_TOKEN_LENGTH:
            violations.append(FieldViolation("proof.citizen_token", "at most 8 KiB"))
        if len(self.activation_code) > MAX_CODE_LENGTH:
            violations.append(
                FieldViolation("proof.activation_code", f"at most {MAX_CODE_LENGTH} characters")
            )
        if violations:
            raise InvalidInput(violations)
        if bool(self.citizen_token) == bool(self.activation_code):
            raise ProofRequired(
                "changing a citizen's authenticators needs the citizen's own proof: their "
                "token or their activation code (proof.citizen_token or proof.activation_code)"
            )


@dataclass(frozen=True)
class SessionsAsker:
    """Who asks to list or end a citizen's sessions, as the API layer authenticated them: the
    citizen's token a relying service relayed (*proof*), the relying service itself (its
    account name; "" for a caller that signs no one in), or an admin."""

    proof: CitizenProof | None = None
    relying_service: str = ""
    admin: bool = False


@dataclass(frozen=True)
class SessionProof:
    """A citizen token whose signature, issuer, audience and session were checked: active."""

    citizen_id: str
    acr: str


class ProofRequired(NotAllowed):
    reason = "CITIZEN_PROOF_REQUIRED"


class ProofRefused(NotAllowed):
    """The proof given is not this citizen's, or not enough for the change."""

    reason = "CITIZEN_TOKEN_REFUSED"


class SessionOfAnotherService(NotAllowed):
    """A relying service ending a session it did not open, without the citizen's token."""

    reason = "SESSION_OF_ANOTHER_SERVICE"


def reachable_acr(methods_and_uv: Iterable[tuple[str, bool]]) -> str:
    """The highest level up to AAL2 the citizen's confirmed authenticators can reach, from each
    one's (method, user verified): two distinct methods, or a user-verifying passkey, reach
    AAL2 (identity.assurance)."""
    pairs = list(methods_and_uv)
    methods = {method for method, _ in pairs}
    if len(methods) >= 2 or any(method == "passkey" and uv for method, uv in pairs):
        return "AAL2"
    return "AAL1"


def session_refusal(proof: SessionProof, citizen_id: UUID, required_acr: str) -> NotAllowed | None:
    if not _same(proof.citizen_id, citizen_id):
        return ProofRefused("the token is not this citizen's")
    if ACR_RANK.get(proof.acr, 0) < ACR_RANK[required_acr]:
        return ProofRefused(
            f"this change needs a session at {required_acr} or above (step-up)",
            reason="STEP_UP_REQUIRED",
            metadata={"required_acr": required_acr},
        )
    return None


def _same(citizen: str, citizen_id: UUID) -> bool:
    try:
        return UUID(citizen) == citizen_id
    except ValueError:
        return False


class _Introspected(Protocol):
    @property
    def active(self) -> bool: ...

    @property
    def claims(self) -> Mapping[str, Any]: ...


class _Application(Protocol):
    """What the proof checks use of the identity application they are mixed into."""

    def now(self) -> datetime: ...

    def introspect(self, token: str) -> _Introspected: ...

    def session_proof(self, proof: CitizenProof) -> SessionProof: ...


class ProofChecks:
    """The check every change to a citizen's authenticators makes, mixed into
    `IdentityApplication`; the citizen aggregate decides, these only verify the token."""

    def _authorize(
        self: _Application, citizen: Citizen, proof: CitizenProof, adds: str, actor: str
    ) -> None:
        """A token must be of the citizen's active session, at the level the change needs; an
        activation code is spent by the change that adds an authenticator (*adds*, its
        method), and only checked by a first step ("")."""
        if proof.citizen_token:
            citizen.require_session_proof(self.session_proof(proof))
            return
        code_hash = hash_activation_code(proof.activation_code)
        if adds:
            citizen.use_activation_code(code_hash, self.now(), adds, actor=actor)
        else:
            citizen.check_activation_code(code_hash, self.now())

    def _require_sessions_reader(
        self: _Application, asker: SessionsAsker, citizen_id: UUID
    ) -> None:
        """Listing a citizen's sessions shows where and when they signed in: their own token
        (any active session, no step-up), or an admin. Decided before the citizen is looked
        up, so a refusal says nothing about whether the citizen exists."""
        if asker.proof is None:
            if asker.admin:
                return
            raise ProofRequired(
                "listing a citizen's sessions needs the citizen's token (proof.citizen_token)"
            )
        if not _same(self.session_proof(asker.proof).citizen_id, citizen_id):
            raise ProofRefused("the token is not this citizen's")

    def _session_ender(self: _Application, asker: SessionsAsker) -> SessionProof | None:
        """The citizen's session that a relayed token speaks for, checked once before the
        session to end is loaded (and reloaded on a conflict)."""
        return self.session_proof(asker.proof) if asker.proof is not None else None

    def session_proof(self: _Application, proof: CitizenProof) -> SessionProof:
        """The session a relayed citizen token speaks for, while it is active."""
        proof.check()
        if not proof.citizen_token:
            raise ProofRequired("this needs the citizen's token")
        result = self.introspect(proof.citizen_token)
        if not result.active:
            raise ProofRefused("the citizen's token is not active")
        return SessionProof(str(result.claims["sub"]), str(result.claims["acr"]))


def require_session_ender(
    asker: SessionsAsker, proof: SessionProof | None, citizen_id: str, opened_by: str
) -> None:
    """Ending a session: the citizen (*proof*, their token, checked by `_session_ender`), the
    relying service that opened it (its sign-out), or an admin."""
    if proof is not None:
        if not _same(proof.citizen_id, UUID(citizen_id)):
            raise ProofRefused("the token is not this session's citizen's")
        return
    if asker.admin or (asker.relying_service and asker.relying_service == opened_by):
        return
    raise SessionOfAnotherService(
        "another relying service opened this session: relay the citizen's token "
        "(proof.citizen_token) to end it"
    )
