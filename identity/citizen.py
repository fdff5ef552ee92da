"""The citizen: personal data (sealed), authenticators, and every authentication attempt.

The aggregate decides: which factors may be used, whether a TOTP step was already spent,
whether a passkey's signature counter went backwards, when failures throttle or lock a factor.
Each decision ends in one past-tense event; lockout state is derived from those events alone.
Secrets are checked through `FactorChecks`, so no secret and no key is held by the aggregate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from identity.activation import Activation, activation_refusal
from identity.assurance import PasskeyProof, amr_values, assurance_level, meets
from identity.authority import SessionProof, reachable_acr, session_refusal
from identity.lockout import LockoutPolicy, is_locked, retry_after
from identity.recovery import NoRecoveryPending, PendingRecovery, RecoveryPending, waiting_refusal
from ledger.errors import Conflict, FailedPrecondition, InvalidInput, NotAllowed, NotFound
from ledger.events import LedgerAggregate

METHODS = ("password", "totp", "passkey", "recovery_codes")
# The sessions a citizen's most recent sign-ins opened: those `ListSessions` looks at.
RECENT_SESSIONS = 64


@dataclass
class Factor:
    authenticator_id: str
    method: str
    label: str
    confirmed: bool
    secret: str = ""  # an Argon2id hash or a sealed seed: never a plain secret
    details: dict[str, Any] = field(default_factory=dict)
    failures: int = 0
    last_failure_at: datetime | None = None


@dataclass(frozen=True)
class Presented:
    """What the citizen presented in one attempt (secrets only travel this far)."""

    password: str = ""
    totp_code: str = ""
    passkey_assertion_json: str = ""
    recovery_code: str = ""

    def methods(self) -> list[str]:
        given = {
            "password": self.password,
            "totp": self.totp_code,
            "passkey": self.passkey_assertion_json,
            "recovery_codes": self.recovery_code,
        }
        return [method for method in METHODS if given[method]]


@dataclass(frozen=True)
class PasskeyResult:
    authenticator_id: str
    ok: bool
    reason: str = ""
    new_sign_count: int = 0
    user_verified: bool = False


@dataclass(frozen=True)
class FactorChecks:
    """The secret-handling checks, injected by the application."""

    password_matches: Callable[[str, str], bool]  # (password, stored hash)
    totp_step: Callable[[str, str, datetime], int | None]  # (sealed seed, code, now)
    passkey: Callable[[Sequence[Factor], str], PasskeyResult]  # (passkeys, assertion JSON)
    recovery_code_index: Callable[[str, Factor], int | None]  # (code, recovery factor)


@dataclass(frozen=True)
class Attempt:
    attempt_id: str
    relying_service: str
    client_address: str
    user_agent: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str = ""
    acr: str = ""
    methods: tuple[str, ...] = ()
    retry_after: timedelta | None = None  # when a throttled factor may be tried again
    amr: tuple[str, ...] = ()  # RFC 8176 values of a success


class Citizen(LedgerAggregate):
    # Issue 13 state, with class defaults: a citizen registered before has neither.
    activation: Activation | None = None
    recovery: PendingRecovery | None = None

    @event("Registered")
    def __init__(
        self,
        id: uuid.UUID,
        personal_data: dict[str, str],
        lookup_hash: str,
        assurance: str,
        evidence: str,
        actor: str,
        key_presence: str = "",  # absent from events written before issue 13
    ) -> None:
        # The id is chosen before the aggregate exists: the sealed fields are bound to it.
        self.personal_data = personal_data  # sealed fields only
        self.lookup_hash = lookup_hash
        self.assurance = assurance
        self.evidence = evidence  # sealed (identity.sealed_secrets), or clear in older ledgers
        # The public presence key of the citizen's data key (identity.key_presence).
        self.key_presence = key_presence
        self.factors: dict[str, Factor] = {}
        self.pending_passkeys: dict[str, str] = {}  # registration id -> challenge (base64url)
        self.pending_labels: dict[str, str] = {}  # registration id -> the label it was given
        # WebAuthn user.id (base64url): random, the same for all the citizen's passkeys, and
        # mapped back to the citizen by a PasskeyUserHandle claim (identity.user_handles).
        self.user_handle = ""
        self.session_ids: list[str] = []
        self.erased = False

    # --- enrolment ------------------------------------------------------------------------------

    def set_password(self, password_hash: str, actor: str) -> Factor:
        self._require_active()
        existing = self._factor_of("password")
        authenticator_id = existing.authenticator_id if existing else _new_id()
        self._password_set(authenticator_id, password_hash, actor=actor)
        return self.factors[authenticator_id]

    @event("PasswordSet")
    def _password_set(self, authenticator_id: str, password_hash: str, actor: str) -> None:
        self.factors[authenticator_id] = Factor(
            authenticator_id, "password", "password", True, secret=password_hash
        )

    def password_hash(self) -> str:
        """The stored Argon2id hash of the password, or "" when none is set."""
        factor = self._factor_of("password")
        return factor.secret if factor is not None else ""

    def rehash_password(self, password_hash: str, actor: str) -> None:
        """Replace the stored hash of the same password (one that has just matched) by one made
        with today's parameters: the authenticator, its failures and its lockout stay as they are.
        """
        self._require_active()
        factor = self._factor_of("password")
        if factor is None:
            raise NotFound("no password authenticator", reason="FACTOR_NOT_ENROLLED")
        self._password_rehashed(factor.authenticator_id, password_hash, actor=actor)

    @event("PasswordRehashed")
    def _password_rehashed(self, authenticator_id: str, password_hash: str, actor: str) -> None:
        self.factors[authenticator_id].secret = password_hash

    def start_totp_enrollment(self, sealed_seed: str, label: str, actor: str) -> str:
        self._require_active()
        authenticator_id = _new_id()
        self._totp_enrollment_started(authenticator_id, sealed_seed, label, actor=actor)
        return authenticator_id

    @event("TotpEnrollmentStarted")
    def _totp_enrollment_started(
        self, authenticator_id: str, sealed_seed: str, label: str, actor: str
    ) -> None:
        self.factors[authenticator_id] = Factor(
            authenticator_id, "totp", label, False, secret=sealed_seed, details={"last_step": -1}
        )

    def confirm_totp(self, authenticator_id: str, step: int | None, actor: str) -> Factor:
        self._require_active()
        factor = self.factors.get(authenticator_id)
        if factor is None or factor.method != "totp":
            raise NotFound("no such TOTP enrolment", reason="TOTP_ENROLLMENT_NOT_FOUND")
        if factor.confirmed:
            raise FailedPrecondition(
                "this TOTP authenticator is already confirmed", reason="TOTP_ALREADY_CONFIRMED"
            )
        if step is None:
            raise InvalidInput.of(
                "code", "does not match the authenticator's current code", reason="TOTP_MISMATCH"
            )
        self._totp_enrolled(authenticator_id, step, actor=actor)
        return factor

    @event("TotpEnrolled")
    def _totp_enrolled(self, authenticator_id: str, step: int, actor: str) -> None:
        factor = self.factors[authenticator_id]
        factor.confirmed = True
        factor.details["last_step"] = step

    def assign_user_handle(self, user_handle: str, actor: str) -> None:
        self._require_active()
        if self.user_handle:
            raise FailedPrecondition("this citizen has a passkey user handle already")
        self._user_handle_assigned(user_handle, actor=actor)

    @event("PasskeyUserHandleAssigned")
    def _user_handle_assigned(self, user_handle: str, actor: str) -> None:
        self.user_handle = user_handle

    def start_passkey_registration(self, challenge: str, label: str, actor: str) -> str:
        self._require_active()
        registration_id = _new_id()
        self._passkey_registration_started(registration_id, challenge, actor=actor, label=label)
        return registration_id

    @event("PasskeyRegistrationStarted")
    def _passkey_registration_started(
        self, registration_id: str, challenge: str, actor: str, label: str = ""
    ) -> None:
        # Registrations started before labels were kept carry none: "passkey", as they showed.
        self.pending_passkeys[registration_id] = challenge
        self.pending_labels[registration_id] = label or "passkey"

    def passkey_label(self, registration_id: str) -> str:
        return self.pending_labels.get(registration_id, "passkey")

    def passkey_challenge(self, registration_id: str) -> str:
        challenge = self.pending_passkeys.get(registration_id)
        if challenge is None:
            raise NotFound(
                "no such passkey registration in progress",
                reason="PASSKEY_REGISTRATION_NOT_FOUND",
            )
        return challenge

    def register_passkey(
        self, registration_id: str, label: str, passkey: dict[str, Any], actor: str
    ) -> Factor:
        self._require_active()
        self.passkey_challenge(registration_id)
        if any(
            f.details.get("credential_id") == passkey["credential_id"]
            for f in self.factors.values()
        ):
            raise Conflict(
                "this passkey is already registered", reason="PASSKEY_ALREADY_REGISTERED"
            )
        authenticator_id = _new_id()
        self._passkey_registered(registration_id, authenticator_id, label, passkey, actor=actor)
        return self.factors[authenticator_id]

    @event("PasskeyRegistered")
    def _passkey_registered(
        self,
        registration_id: str,
        authenticator_id: str,
        label: str,
        passkey: dict[str, Any],
        actor: str,
    ) -> None:
        self.pending_passkeys.pop(registration_id, None)
        self.pending_labels.pop(registration_id, None)
        self.factors[authenticator_id] = Factor(
            authenticator_id, "passkey", label, True, details=dict(passkey)
        )

    def issue_recovery_codes(self, salt: str, hashes: list[str], actor: str) -> Factor:
        self._require_active()
        existing = self._factor_of("recovery_codes")
        authenticator_id = existing.authenticator_id if existing else _new_id()
        self._recovery_codes_issued(authenticator_id, salt, hashes, actor=actor)
        return self.factors[authenticator_id]

    @event("RecoveryCodesIssued")
    def _recovery_codes_issued(
        self, authenticator_id: str, salt: str, hashes: list[str], actor: str
    ) -> None:
        self.factors[authenticator_id] = Factor(
            authenticator_id,
            "recovery_codes",
            "recovery codes",
            True,
            details={"salt": salt, "hashes": list(hashes)},
        )

    def remove_authenticator(self, authenticator_id: str, actor: str) -> None:
        self._require_active()
        if authenticator_id not in self.factors:
            raise NotFound("no such authenticator", reason="AUTHENTICATOR_NOT_FOUND")
        self._authenticator_removed(authenticator_id, actor=actor)

    @event("AuthenticatorRemoved")
    def _authenticator_removed(self, authenticator_id: str, actor: str) -> None:
        del self.factors[authenticator_id]

    # --- authentication -------------------------------------------------------------------------

    def available_methods(self) -> list[str]:
        return sorted({f.method for f in self.factors.values() if f.confirmed})

    def passkeys(self) -> list[Factor]:
        return [f for f in self.factors.values() if f.method == "passkey"]

    def authenticate(
        self,
        attempt: Attempt,
        presented: Presented,
        checks: FactorChecks,
        policy: LockoutPolicy,
        now: datetime,
        *,
        session_id: str,
        allow_aal3: bool,
        actor: str,
        required_acr: str = "",
    ) -> Outcome:
        """Decide one attempt and record it: one event, success or failure (and `FactorLocked`
        when the failure locked a factor).

        Factors that all pass but reach less than `required_acr` are refused as
        `assurance_too_low`; what they spent (a TOTP step, a recovery code, the passkey's counter)
        stays spent, since each was shown to the relying service once.
        """
        self._require_active()
        methods = presented.methods()
        failed: list[str] = []
        passed: list[str] = []
        updates: dict[str, dict[str, Any]] = {}
        reason = self._refusal(methods, policy, now)
        passkey_proof: PasskeyProof | None = None
        if not reason:
            for method in methods:
                ok, factor_ids, why, update = self._check(method, presented, checks, policy, now)
                if not ok:
                    reason = reason or why
                    failed.extend(factor_ids)
                    continue
                factor_id = factor_ids[0]
                passed.append(factor_id)
                if update:
                    updates[factor_id] = update
                if method == "passkey":
                    factor = self.factors[factor_id]
                    passkey_proof = PasskeyProof(
                        user_verified=bool(update.get("user_verified")),
                        device_bound=not factor.details.get("backed_up", False),
                        attested=bool(factor.details.get("attested", False)),
                    )
        acr = assurance_level(methods, passkey_proof, allow_aal3=allow_aal3)
        spent: dict[str, dict[str, Any]] = {}
        if not reason and not meets(acr, required_acr):
            reason, spent = "assurance_too_low", updates
        if reason:
            unlocked_before = {f for f in failed if not is_locked(policy, self.factors[f].failures)}
            self._authentication_failed(
                attempt.attempt_id,
                methods,
                reason,
                failed,
                now,
                attempt.relying_service,
                attempt.client_address,
                attempt.user_agent,
                actor=actor,
                spent=spent,
            )
            newly_locked = sorted(
                f for f in unlocked_before if is_locked(policy, self.factors[f].failures)
            )
            if newly_locked:  # its own event, so the citizen's history shows the lock
                self._factor_locked(newly_locked, actor=actor)
            wait = self._throttled_for(reason, policy, now)
            return Outcome(False, reason, acr=acr, methods=tuple(methods), retry_after=wait)
        self._authentication_succeeded(
            attempt.attempt_id,
            methods,
            acr,
            session_id,
            passed,
            updates,
            attempt.relying_service,
            attempt.client_address,
            attempt.user_agent,
            actor=actor,
        )
        amr = amr_values(methods, passkey_proof, acr)
        return Outcome(True, acr=acr, methods=tuple(methods), amr=tuple(amr))

    def refuse(self, attempt: Attempt, presented: Presented, reason: str, actor: str) -> None:
        """Record an attempt refused before any factor was checked (its challenge was spent or
        expired): it is still an attempt, so it is still an event."""
        self._require_active()
        self._authentication_failed(
            attempt_id=attempt.attempt_id,
            methods=presented.methods(),
            reason=reason,
            failed=[],
            failed_at=None,
            relying_service=attempt.relying_service,
            client_address=attempt.client_address,
            user_agent=attempt.user_agent,
            actor=actor,
        )

    def _refusal(self, methods: list[str], policy: LockoutPolicy, now: datetime) -> str:
        if not methods:
            return "no_factor_presented"
        for method in methods:
            factors = [f for f in self.factors.values() if f.method == method and f.confirmed]
            if not factors:
                return f"{method}_not_enrolled"
            if all(is_locked(policy, f.failures) for f in factors):
                return f"{method}_locked"
            if all(
                retry_after(policy, f.failures, f.last_failure_at, now) > timedelta(0)
                for f in factors
            ):
                return f"{method}_throttled"
        return ""

    def _throttled_for(self, reason: str, policy: LockoutPolicy, now: datetime) -> timedelta | None:
        """For a `<method>_throttled` refusal, how long until a factor of it may be tried."""
        method = reason.removesuffix("_throttled")
        if method == reason:
            return None
        return min(
            retry_after(policy, f.failures, f.last_failure_at, now)
            for f in self.factors.values()
            if f.method == method and f.confirmed
        )

    def _check(
        self,
        method: str,
        presented: Presented,
        checks: FactorChecks,
        policy: LockoutPolicy,
        now: datetime,
    ) -> tuple[bool, list[str], str, dict[str, Any]]:
        """(ok, the authenticator that passed or those that failed, reason, state update)."""
        if method == "password":
            factor = self._factor_of("password")
            assert factor is not None
            ok = checks.password_matches(presented.password, factor.secret)
            return ok, [factor.authenticator_id], "" if ok else "password_mismatch", {}
        if method == "totp":
            return self._check_totp(presented.totp_code, checks, policy, now)
        if method == "passkey":
            result = checks.passkey(self.passkeys(), presented.passkey_assertion_json)
            update = (
                {"sign_count": result.new_sign_count, "user_verified": result.user_verified}
                if result.ok
                else {}
            )
            # A response that names none of the citizen's passkeys (malformed, empty, another
            # credential) is still a failed try of the factor: it counts against each passkey
            # that may be tried now, as a wrong code does against each authenticator app.
            failed = (
                [result.authenticator_id]
                if result.authenticator_id
                else [f.authenticator_id for f in self._usable("passkey", policy, now)]
            )
            return result.ok, failed, result.reason, update
        factor = self._factor_of("recovery_codes")
        assert factor is not None
        index = checks.recovery_code_index(presented.recovery_code, factor)
        if index is None:
            return False, [factor.authenticator_id], "recovery_code_mismatch", {}
        return True, [factor.authenticator_id], "", {"used_code": index}

    def _check_totp(
        self, code: str, checks: FactorChecks, policy: LockoutPolicy, now: datetime
    ) -> tuple[bool, list[str], str, dict[str, Any]]:
        # Only factors that may be tried now are tried, and a miss counts against each of them:
        # otherwise a second TOTP authenticator would let guessing go on past the lockout.
        usable = self._usable("totp", policy, now)
        for factor in usable:
            step = checks.totp_step(factor.secret, code, now)
            if step is None:
                continue
            if step <= factor.details["last_step"]:
                # RFC 6238 section 5.2: a code is accepted once; a second use is a replay.
                return False, [factor.authenticator_id], "totp_replayed", {}
            return True, [factor.authenticator_id], "", {"last_step": step}
        return False, [f.authenticator_id for f in usable], "totp_mismatch", {}

    def _usable(self, method: str, policy: LockoutPolicy, now: datetime) -> list[Factor]:
        """The confirmed factors of `method` that may be tried now: neither locked nor waiting."""
        return [
            f
            for f in self.factors.values()
            if f.method == method
            and f.confirmed
            and not is_locked(policy, f.failures)
            and retry_after(policy, f.failures, f.last_failure_at, now) <= timedelta(0)
        ]

    @event("AuthenticationSucceeded")
    def _authentication_succeeded(
        self,
        attempt_id: str,
        methods: list[str],
        acr: str,
        session_id: str,
        passed: list[str],
        updates: dict[str, dict[str, Any]],
        relying_service: str,
        client_address: str,
        user_agent: str,
        actor: str,
    ) -> None:
        for authenticator_id in passed:
            factor = self.factors[authenticator_id]
            factor.failures, factor.last_failure_at = 0, None
        for authenticator_id, update in updates.items():
            self._spend(authenticator_id, update)
            if "used_code" in update:
                for other in self.factors.values():  # a recovery code unlocks every factor
                    other.failures, other.last_failure_at = 0, None
        self.session_ids.append(session_id)
        # Bounded, so a citizen's state (and each load, copy and snapshot of it) stays the same
        # size after years of sign-ins: a session lives 12 hours at most, far fewer than these.
        del self.session_ids[:-RECENT_SESSIONS]

    def _spend(self, authenticator_id: str, update: dict[str, Any]) -> None:
        """A factor that passed: its code is used, its step or counter moves on."""
        factor = self.factors[authenticator_id]
        if "used_code" in update:
            factor.details["hashes"][update["used_code"]] = None
        else:
            factor.details.update(update)

    @event("AuthenticationFailed")
    def _authentication_failed(
        self,
        attempt_id: str,
        methods: list[str],
        reason: str,
        failed: list[str],
        failed_at: datetime | None,
        relying_service: str,
        client_address: str,
        user_agent: str,
        actor: str,
        spent: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        for authenticator_id in failed:
            factor = self.factors.get(authenticator_id)
            if factor is not None:
                factor.failures += 1
                factor.last_failure_at = failed_at
        for authenticator_id, update in (spent or {}).items():
            self._spend(authenticator_id, update)

    @event("FactorLocked")
    def _factor_locked(self, authenticator_ids: list[str], actor: str) -> None:
        pass  # lockout is derived from the failures; this event tells the citizen

    def unlock(self, method: str, reason: str, actor: str) -> list[str]:
        self._require_active()
        if method not in METHODS:
            raise InvalidInput.of("method", f"one of {', '.join(METHODS)}")
        unlocked = [f.authenticator_id for f in self.factors.values() if f.method == method]
        if not unlocked:
            raise NotFound(f"no {method} authenticator", reason="FACTOR_NOT_ENROLLED")
        self._factor_unlocked(method, reason, actor=actor)
        return unlocked

    @event("FactorUnlocked")
    def _factor_unlocked(self, method: str, reason: str, actor: str) -> None:
        for factor in self.factors.values():
            if factor.method == method:
                factor.failures, factor.last_failure_at = 0, None

    # --- who may change the authenticators (issue 13) -------------------------------------------

    def issue_activation_code(self, code_hash: str, expires_at: datetime, actor: str) -> None:
        self._require_active()
        self._activation_code_issued(code_hash, expires_at, actor=actor)

    @event("ActivationCodeIssued")
    def _activation_code_issued(self, code_hash: str, expires_at: datetime, actor: str) -> None:
        self.activation = Activation(code_hash, expires_at)

    def check_activation_code(self, code_hash: str, now: datetime) -> None:
        """For the first step of an enrolment: the code may be used, and stays unused."""
        self._require_active()
        refusal = activation_refusal(self.activation, code_hash, now)
        if refusal:
            raise NotAllowed("the activation code is not accepted", reason=refusal)

    def use_activation_code(self, code_hash: str, now: datetime, used_for: str, actor: str) -> None:
        """Spend the code on the authenticator it adds (*used_for* is its method)."""
        self.check_activation_code(code_hash, now)
        self._activation_code_used(used_for, actor=actor)

    @event("ActivationCodeUsed")
    def _activation_code_used(self, used_for: str, actor: str) -> None:
        if self.activation is not None:
            self.activation.used = True

    def required_acr(self) -> str:
        """The session level a change needs: AAL2 once the authenticators can reach it."""
        return reachable_acr(
            (f.method, bool(f.details.get("user_verified")))
            for f in self.factors.values()
            if f.confirmed
        )

    def require_session_proof(self, proof: SessionProof, *, step_up: bool = True) -> None:
        self._require_active()
        refusal = session_refusal(proof, self.id, self.required_acr() if step_up else "AAL1")
        if refusal is not None:
            raise refusal

    def start_recovery(
        self,
        reason: str,
        evidence_reference: str,
        started_at: datetime,
        effective_at: datetime,
        actor: str,
    ) -> PendingRecovery:
        self._require_active()
        if self.recovery is not None:
            raise RecoveryPending("a recovery of this citizen is already pending")
        self._recovery_started(reason, evidence_reference, started_at, effective_at, actor=actor)
        assert self.recovery is not None  # the event just set it
        return self.recovery

    @event("RecoveryStarted")
    def _recovery_started(
        self,
        reason: str,
        evidence_reference: str,
        started_at: datetime,
        effective_at: datetime,
        actor: str,
    ) -> None:
        self.recovery = PendingRecovery(started_at, effective_at, reason, evidence_reference)

    def cancel_recovery(self, reason: str, cancelled_by: str, actor: str) -> PendingRecovery:
        """*cancelled_by*: `citizen` (any session of theirs) or `admin`."""
        self._require_active()
        recovery = self.recovery
        if recovery is None:
            raise NoRecoveryPending("no recovery of this citizen is pending")
        self._recovery_cancelled(reason, cancelled_by, actor=actor)
        return recovery

    @event("RecoveryCancelled")
    def _recovery_cancelled(self, reason: str, cancelled_by: str, actor: str) -> None:
        self.recovery = None

    def complete_recovery(
        self, code_hash: str, activation_expires_at: datetime, now: datetime, actor: str
    ) -> PendingRecovery:
        """Every authenticator goes and a fresh activation code replaces them; the application
        revokes the sessions in the same save."""
        self._require_active()
        recovery = self.recovery
        refusal = waiting_refusal(recovery, now)
        if refusal is not None:
            raise refusal
        assert recovery is not None
        self._recovery_completed(
            sorted(self.factors), code_hash, activation_expires_at, actor=actor
        )
        return recovery

    @event("RecoveryCompleted")
    def _recovery_completed(
        self,
        removed_authenticators: list[str],
        code_hash: str,
        activation_expires_at: datetime,
        actor: str,
    ) -> None:
        self.factors = {}
        self.pending_passkeys = {}
        self.activation = Activation(code_hash, activation_expires_at)
        self.recovery = None

    # --- erasure --------------------------------------------------------------------------------

    def erase(self, reason: str, actor: str) -> None:
        self._require_active()
        self._erased(reason, actor=actor)

    @event("Erased")
    def _erased(self, reason: str, actor: str) -> None:
        self.erased = True
        self.personal_data = {}
        self.factors = {}

    def _require_active(self) -> None:
        if self.erased:
            raise FailedPrecondition("this citizen was erased", reason="CITIZEN_ERASED")

    def _factor_of(self, method: str) -> Factor | None:
        return next((f for f in self.factors.values() if f.method == method), None)


def _new_id() -> str:
    return str(uuid.uuid4())
