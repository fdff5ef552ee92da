"""Signing a citizen in: an attempt begun, then completed with the presented factors, which
the citizen aggregate decides on; a success opens a session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from identity import base64url, passkeys
from identity.application_base import Challenge, CitizenView, SignedIn, new_token_id
from identity.assurance import check_required_level
from identity.citizen import (
    Attempt,
    Citizen,
    Factor,
    FactorChecks,
    Outcome,
    PasskeyResult,
    Presented,
)
from identity.citizen_fields import sealed_client
from identity.personal_data import FieldSealer
from identity.refusals import AuthenticationFailedError
from identity.sealed_secrets import CitizenSecrets
from identity.session import (
    AuthenticationAttempt,
    Session,
)
from identity.session_commands import SessionCommands
from identity.user_handles import citizen_of
from identity.validation import (
    require_text,
    validate_presented,
)
from ledger.errors import (
    FailedPrecondition,
    InvalidInput,
)
from ledger.retry import retry_on_conflict


@dataclass(frozen=True)
class Completion:
    """One try at completing an authentication, as each of its steps reads it."""

    citizen: Citizen
    attempt: AuthenticationAttempt
    context: Attempt
    presented: Presented
    now: datetime
    actor: str
    # The citizen's data key, read and unwrapped once for the whole try: it seals where they
    # signed in from and opens their factors' secrets.
    sealer: FieldSealer


class Authentication(SessionCommands):
    def unlock_factor(self, citizen_id: str, method: str, reason: str, actor: str) -> CitizenView:
        require_text("reason", reason, required=True)
        self._update(citizen_id, lambda c: c.unlock(method, reason, actor=actor))
        return self.get_citizen(citizen_id)

    def begin_authentication(
        self,
        citizen_id: str,
        relying_service: str,
        actor: str,
        required_acr: str = "",
        require_user_verification: bool = False,
    ) -> Challenge:
        """Open an attempt. Without *citizen_id* it is username-less: any discoverable passkey
        of this relying party may answer, and its user handle names the citizen.

        A relying service that needs more than AAL1 says so (*required_acr*); the passkey options
        then ask for user verification, without which a passkey alone cannot reach AAL2.
        """
        check_required_level(required_acr, aal3_offered=self._aal3_offered())
        verify_user = require_user_verification or required_acr in ("AAL2", "AAL3")
        if citizen_id:
            citizen = self._citizen(citizen_id)
            methods = citizen.available_methods()
            if not methods:
                raise FailedPrecondition(
                    "this citizen has no authenticator enrolled", reason="NO_AUTHENTICATOR"
                )
            allowed = [base64url.decode(f.details["credential_id"]) for f in citizen.passkeys()]
        else:
            methods, allowed = ["passkey"], []
        options_json, challenge = "", b""
        if "passkey" in methods:
            options_json, challenge = passkeys.authentication_options(
                self.settings.relying_party, allowed, require_user_verification=verify_user
            )
        expires_at = self._clock() + self.settings.attempt_lifetime
        attempt = AuthenticationAttempt(
            citizen_id,
            base64url.encode(challenge),
            expires_at,
            relying_service,
            actor=actor,
            required_acr=required_acr,
            require_user_verification=require_user_verification,
        )
        self.save(attempt)
        return Challenge(str(attempt.id), methods, options_json, expires_at)

    def complete_authentication(
        self,
        attempt_id: str,
        presented: Presented,
        client: tuple[str, str],
        relying_service: str,
        actor: str,
    ) -> SignedIn:
        validate_presented(presented, client)
        context = Attempt(attempt_id, relying_service, client[0], client[1])
        # Another request may change the citizen meanwhile: each retry decides on fresh state.
        return retry_on_conflict(lambda: self._complete_once(context, presented, actor))

    def _complete_once(self, context: Attempt, presented: Presented, actor: str) -> SignedIn:
        attempt: AuthenticationAttempt = self._get(
            AuthenticationAttempt, context.attempt_id, "attempt_id"
        )
        citizen = (
            self._citizen(attempt.citizen_id)
            if attempt.citizen_id
            else self._citizen_of_user_handle(attempt, presented, actor)
        )
        # Where and with what the citizen signed in is theirs: sealed with their key (erasure
        # shreds it), shown to them alone in their history.
        sealer = self._sealer(citizen)
        context = sealed_client(sealer, context)
        completion = Completion(citizen, attempt, context, presented, self._clock(), actor, sealer)
        self._refuse_spent_attempt(completion)
        session_id = uuid.uuid4()
        outcome = self._authenticate(completion, str(session_id))
        if "password" in outcome.methods:
            self._rehash_outdated_password(completion, presented.password)
        session = self._open_session(completion, session_id, outcome)
        # One save: the sign-in, the spent attempt and the new session are stored together.
        self.save(completion.citizen, attempt, session)
        return self._signed_in(session, completion.now)

    def _refuse_spent_attempt(self, completion: Completion) -> None:
        """An attempt already used or expired is refused before any factor is checked, and the
        refusal is recorded on the citizen."""
        refusal = completion.attempt.refusal(completion.now)
        if refusal:
            completion.citizen.refuse(
                completion.context, completion.presented, refusal, actor=completion.actor
            )
            self.save(completion.citizen)
            raise AuthenticationFailedError(refusal)

    def _authenticate(self, completion: Completion, session_id: str) -> Outcome:
        """The citizen decides on the presented factors and the attempt is spent; a failure is
        saved and raised here, a success is left for the caller to save with its session."""
        citizen, attempt = completion.citizen, completion.attempt
        outcome = citizen.authenticate(
            completion.context,
            completion.presented,
            self._factor_checks(completion),
            self.settings.lockout,
            completion.now,
            session_id=session_id,
            allow_aal3=self.settings.allow_aal3,
            actor=completion.actor,
            required_acr=attempt.required_acr,
        )
        attempt.complete(outcome.ok, actor=completion.actor)
        if not outcome.ok:
            self.save(citizen, attempt)
            raise AuthenticationFailedError(
                outcome.reason,
                outcome.retry_after,
                reached=outcome.acr,
                required=attempt.required_acr,
            )
        return outcome

    def _citizen_of_user_handle(
        self, attempt: AuthenticationAttempt, presented: Presented, actor: str
    ) -> Citizen:
        """The citizen a username-less attempt's passkey names by its user handle.

        No existence oracle: a handle that names nobody (or an erased citizen) is refused as an
        unknown credential, the answer a stranger's passkey gets from a citizen who exists, and
        recorded on the attempt, the only stream there is to record it on.
        """
        if not presented.passkey_assertion_json:
            raise InvalidInput.of(
                "passkey_assertion_json", "is required: the attempt was begun without citizen_id"
            )
        refusal = attempt.refusal(self._clock())
        try:
            handle = passkeys.user_handle_of(presented.passkey_assertion_json)
        except passkeys.PasskeyError:
            refusal, handle = refusal or "passkey_malformed", None
        citizen = citizen_of(self._load, handle) if handle else None
        if citizen is not None:
            return citizen
        refusal = refusal or "passkey_unknown_credential"
        if not attempt.completed:
            attempt.complete(False, actor=actor, refusal=refusal)
            self.save(attempt)
        raise AuthenticationFailedError(refusal)

    def _rehash_outdated_password(self, completion: Completion, password: str) -> None:
        """A password that has just matched is hashed again when its stored hash was made with
        other Argon2id parameters than today's: raising the parameters reaches every citizen
        who signs in, and the plain password is only ever at hand during a sign-in."""
        citizen, secrets = completion.citizen, CitizenSecrets(completion.sealer)
        if secrets.needs_rehash(citizen.password_hash()):
            citizen.rehash_password(secrets.hash_password(password), actor=completion.actor)

    def _open_session(self, completion: Completion, session_id: UUID, outcome: Outcome) -> Session:
        now = completion.now
        expires_at = now + self.settings.session_absolute
        return Session(
            session_id,
            str(completion.citizen.id),
            outcome.acr,
            list(outcome.amr),
            completion.context.relying_service,
            now,
            expires_at,
            actor=completion.actor,
            token_id=new_token_id(),
            idle_expires_at=min(now + self.settings.session_idle, expires_at),
        )

    def _factor_checks(self, completion: Completion) -> FactorChecks:
        citizen, attempt = completion.citizen, completion.attempt

        def passkey(factors: Sequence[Factor], assertion_json: str) -> PasskeyResult:
            return self._check_passkey(
                factors,
                assertion_json,
                attempt.challenge,
                attempt.require_user_verification,
                base64url.encode(citizen.id.bytes),
            )

        # One data key read and unwrap for every check of the attempt.
        sealer = completion.sealer
        secrets = CitizenSecrets(sealer)
        return FactorChecks(
            password_matches=secrets.password_matches,
            totp_step=lambda sealed_seed, code, at: self._totp_step(sealer, sealed_seed, code, at),
            passkey=passkey,
            recovery_code_index=secrets.recovery_code_index,
        )

    def _check_passkey(
        self,
        factors: Sequence[Factor],
        assertion_json: str,
        challenge: str,
        require_user_verification: bool,
        legacy_handle: str,
    ) -> PasskeyResult:
        try:
            credential_id = base64url.encode(passkeys.credential_id_of(assertion_json))
        except passkeys.PasskeyError:
            return PasskeyResult("", False, "passkey_malformed")
        factor = next((f for f in factors if f.details["credential_id"] == credential_id), None)
        if factor is None:
            return PasskeyResult("", False, "passkey_unknown_credential")
        try:
            assertion = passkeys.verify_authentication(
                self.settings.relying_party,
                assertion_json,
                base64url.decode(challenge),
                base64url.decode(factor.details["public_key"]),
                factor.details["sign_count"],
                require_user_verification=require_user_verification,
            )
        except passkeys.PasskeyError as error:
            # A counter that went backwards suggests a cloned authenticator (WebAuthn 6.1.1).
            return PasskeyResult(factor.authenticator_id, False, f"passkey_{error.reason}")
        # §7.2 step 6: a user handle, when the authenticator sends one, is the credential's own;
        # passkeys registered before handles were random carry the citizen id instead.
        registered_handle = factor.details.get("user_handle") or legacy_handle
        if assertion.user_handle and base64url.encode(assertion.user_handle) != registered_handle:
            return PasskeyResult(factor.authenticator_id, False, "passkey_unknown_credential")
        return PasskeyResult(
            factor.authenticator_id, True, "", assertion.new_sign_count, assertion.user_verified
        )
