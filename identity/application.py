"""The identity application: one method per command, each loading, deciding and saving.

Secrets (passwords, codes, assertions) arrive here, are checked by the pure modules
(`passwords`, `totp`, `recovery_codes`, `passkeys`), and go no further: events carry sealed
values (hashes and salts too: `sealed_secrets`) and outcomes only.

Base64url values decoded here (credential ids, public keys, challenges, salts) were written by
`base64url.encode` into this application's own events; the strict decoder therefore refuses only
a corrupted value, which a lenient one would have turned into different bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Recording

from identity import base64url, passkeys, passwords, recovery_codes, totp
from identity.account_names import account_name, full_name
from identity.activation import hash_activation_code, new_activation_code
from identity.assurance import check_required_level
from identity.attestation import NO_TRUST, TrustAnchors
from identity.authority import CitizenProof, ProofChecks, SessionsAsker, require_session_ender
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
from identity.erasure import destroy, erase
from identity.lockout import LockoutPolicy, is_locked
from identity.national_id_claim import NationalIdentifierClaim, claim_id, current_claim
from identity.personal_data import (
    DataKeyMissing,
    DataKeyStore,
    FieldSealer,
    NationalIdentifierIndex,
)
from identity.recovery import RecoveryCommands
from identity.refusals import PASSKEY_REASONS, AuthenticationFailedError
from identity.sealed_secrets import CitizenSecrets
from identity.session import (
    REUSE_REASON,
    AuthenticationAttempt,
    Refresh,
    Session,
    SessionRefused,
)
from identity.token_issuance import TokenIssuer
from identity.tokens import MAX_TOKEN_LENGTH, TokenError, TokenSigner
from identity.user_handles import citizen_of, claim_user_handle
from identity.validation import (
    POLICY_MESSAGES,
    client_violations,
    require_json,
    require_text,
    validate_personal_data,
    validate_presented,
)
from ledger.accounts import Caller
from ledger.data_access import DataAccessLog, check_purpose
from ledger.errors import (
    Conflict,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from ledger.mapper import PayloadErased
from ledger.retry import retry_on_conflict
from ledger.store import LedgerApplication, LedgerStore

# What a missing aggregate is called on the wire, by the request field that named it.
NOT_FOUND_REASONS = {
    "citizen_id": "CITIZEN_NOT_FOUND",
    "attempt_id": "ATTEMPT_NOT_FOUND",
    "session_id": "SESSION_NOT_FOUND",
}
T = TypeVar("T")
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class IdentitySettings:
    relying_party: passkeys.RelyingParty
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    session_absolute: timedelta = timedelta(hours=12)  # NIST 800-63B section 4.2.3 (AAL2)
    session_idle: timedelta = timedelta(minutes=30)
    attempt_lifetime: timedelta = timedelta(minutes=5)
    # An operator's choice, off unless configured: attested, device-bound, user-verified
    # passkeys of a model in `attestation` reach AAL3; nothing else ever does.
    allow_aal3: bool = False
    attestation: TrustAnchors = NO_TRUST
    token_issuer: str = "civitas"  # noqa: S105 - the JWT `iss`, not a secret
    token_audience: str = "civitas"  # noqa: S105 - an audience name, not a secret
    issuer: str = "civitas"  # the name an authenticator app shows next to the TOTP code
    activation_lifetime: timedelta = timedelta(days=30)  # a letter's round trip, and then some
    recovery_wait: timedelta = timedelta(hours=24)  # time for the citizen to notice and cancel


@dataclass(frozen=True)
class CitizenView:
    citizen_id: str
    personal_data: dict[str, str]
    assurance: str
    authenticators: list[Factor]
    locked: dict[str, bool]
    erased: bool
    # Issue 13, from RegisterCitizen only: the activation code, shown this once; or the
    # existing citizen a duplicate registration found.
    activation_code: str = ""
    activation_expires_at: datetime | None = None
    already_registered: bool = False


@dataclass(frozen=True)
class TotpEnrollment:
    authenticator_id: str
    provisioning_uri: str
    qr_svg: str
    qr_png: bytes


@dataclass(frozen=True)
class Challenge:
    attempt_id: str
    methods: list[str]
    passkey_options_json: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    token: str
    acr: str
    amr: list[str]
    expires_at: datetime


@dataclass(frozen=True)
class Introspection:
    active: bool
    reason: str = ""
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthenticationRecorded:
    """An authentication attempt once its event is stored: for counting, so no secret in it."""

    methods: tuple[str, ...]
    succeeded: bool
    reason: str  # "" when it succeeded


ATTEMPT_EVENTS = {
    f"{Citizen.TOPIC}.AuthenticationSucceeded": True,
    f"{Citizen.TOPIC}.AuthenticationFailed": False,
}


@dataclass(frozen=True)
class Completion:
    """One try at completing an authentication, as each of its steps reads it."""

    citizen: Citizen
    attempt: AuthenticationAttempt
    context: Attempt
    presented: Presented
    now: datetime
    actor: str


class CitizenErased(FailedPrecondition):
    """The citizen was erased: there is nothing left to read or change."""

    reason = "CITIZEN_ERASED"


class IdentityApplication(ProofChecks, RecoveryCommands, LedgerApplication):
    def __init__(
        self,
        store: LedgerStore,
        *,
        data_keys: DataKeyStore,
        national_ids: NationalIdentifierIndex,
        token_signer: TokenSigner,
        settings: IdentitySettings,
        clock: Clock,
        data_access: DataAccessLog,
        on_authentication: Callable[[AuthenticationRecorded], None] | None = None,
    ) -> None:
        super().__init__(store)
        self._on_authentication = on_authentication
        self._data_access = data_access
        self._data_keys = data_keys
        self._national_ids = national_ids
        self._token_signer = token_signer
        self._tokens = TokenIssuer(
            token_signer, issuer=settings.token_issuer, audience=settings.token_audience
        )
        self.settings = settings
        self._clock = clock

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        """`eventsourcing` calls this after a save has committed: attempts are reported from the
        stored events, so a save that failed (and was retried) is never counted."""
        if self._on_authentication is None:
            return
        for recording in recordings:
            stored = recording.domain_event
            succeeded = ATTEMPT_EVENTS.get(getattr(type(stored), "TOPIC", ""))
            if succeeded is not None:
                self._on_authentication(
                    AuthenticationRecorded(
                        tuple(getattr(stored, "methods", ())),
                        succeeded,
                        getattr(stored, "reason", ""),
                    )
                )

    # --- citizens -------------------------------------------------------------------------------

    def register_citizen(
        self,
        personal_data: dict[str, str],
        assurance: str,
        evidence: str,
        registrar: str,
        actor: str,
    ) -> CitizenView:
        """A new citizen and their activation code (its hash only is stored); or, for a
        national identifier registered already, that citizen, with the registrar's lookup
        recorded in their history like any other read."""
        validate_personal_data(personal_data, assurance, evidence)
        lookup_hash = self._national_ids.lookup_hash(personal_data["national_identifier"])
        citizen_id = uuid.uuid4()
        # Past generation 0 when the identifier's earlier holders were erased.
        generation, holder = current_claim(self._load, lookup_hash)
        if holder is not None:
            return self._existing_registration(holder.citizen_id, registrar, actor)
        sealer = self._data_keys.create(citizen_id)
        sealed = {name: sealer.seal(name, value) for name, value in personal_data.items() if value}
        sealed_evidence = CitizenSecrets(sealer).seal_evidence(evidence)
        citizen = Citizen(
            citizen_id,
            sealed,
            lookup_hash,
            assurance,
            sealed_evidence,
            actor=actor,
            key_presence=sealer.presence_public_key(),
        )
        code = new_activation_code()
        expires_at = self._clock() + self.settings.activation_lifetime
        citizen.issue_activation_code(hash_activation_code(code), expires_at, actor=actor)
        claim = NationalIdentifierClaim(
            claim_id(lookup_hash, generation), lookup_hash, str(citizen_id), actor=actor
        )
        try:
            self.save(citizen, claim)
        except IntegrityError:  # registered at the same moment by another request
            self._data_keys.destroy(citizen_id)
            _, holder = current_claim(self._load, lookup_hash)
            if holder is None:  # the clash was not the claim's: nothing to return
                raise Conflict("the registration clashed; retry", reason="ALREADY_EXISTS") from None
            return self._existing_registration(holder.citizen_id, registrar, actor)
        return replace(self._view(citizen), activation_code=code, activation_expires_at=expires_at)

    def _existing_registration(self, citizen_id: str, registrar: str, actor: str) -> CitizenView:
        """Issue 13: a national identifier registered already answers with that citizen (to a
        registrar: the role table lets only them call), and the lookup is recorded for them."""
        purpose = "registration: this national identifier is already registered"
        self._data_access.record(citizen_id, registrar, purpose, "personal data", actor=actor)
        return replace(self.get_citizen(citizen_id), already_registered=True)

    def get_citizen(self, citizen_id: str) -> CitizenView:
        try:
            return self._view(self._citizen(citizen_id))
        except CitizenErased:
            return CitizenView(citizen_id, {}, "", [], {}, erased=True)

    def citizen_exists(self, citizen_id: str) -> bool:
        """Whether *citizen_id* names a registered citizen who was not erased."""
        try:
            return not self._citizen(citizen_id).erased
        except (CitizenErased, NotFound, InvalidInput):
            return False

    def read_citizen(self, citizen_id: str, agency: str, purpose: str, actor: str) -> CitizenView:
        """An agency reads a citizen's data: the purpose is checked before the citizen is looked
        up, and the read is recorded before the data is returned, a miss as well as a hit."""
        check_purpose(purpose)
        try:
            view = self.get_citizen(citizen_id)
        except NotFound:
            self._data_access.record("", agency, purpose, "personal data: no match", actor=actor)
            raise
        self._data_access.record(view.citizen_id, agency, purpose, "personal data", actor=actor)
        return view

    def find_citizen_for(
        self, national_identifier: str, agency: str, purpose: str, actor: str
    ) -> CitizenView:
        """Issue 13: no existence oracle. Both fields are checked before any lookup, and a
        miss is recorded like a hit (who asked, with what purpose)."""
        require_text("national_identifier", national_identifier, required=True)
        check_purpose(purpose)
        try:
            view = self.find_citizen(national_identifier)
        except NotFound:
            resource = "national identifier lookup: no match"
            self._data_access.record("", agency, purpose, resource, actor=actor)
            raise
        self._data_access.record(view.citizen_id, agency, purpose, "personal data", actor=actor)
        return view

    def find_citizen(self, national_identifier: str) -> CitizenView:
        require_text("national_identifier", national_identifier, required=True)
        lookup_hash = self._national_ids.lookup_hash(national_identifier)
        _, claim = current_claim(self._load, lookup_hash)
        if claim is None:  # never registered, or its citizen was erased
            raise NotFound("no citizen with this national identifier", reason="CITIZEN_NOT_FOUND")
        return self.get_citizen(claim.citizen_id)

    def erase_citizen(self, citizen_id: str, reason: str, actor: str) -> CitizenView:
        require_text("reason", reason, required=True)

        def erase_once() -> Citizen:
            # Loaded afresh on every retry: a sign-in or refresh that saved first is erased too.
            erasure = erase(self._citizen(citizen_id), self._load, reason, actor)
            # The Erased entry is stored before the key is deleted, never after: an auditor's
            # ProveDataKeys counts a key gone without an Erased entry before it as deleted
            # unlawfully (identity.key_presence).
            self.save(*erasure.aggregates())
            destroy(erasure, self._data_keys, self.store)
            return erasure.citizen

        citizen = retry_on_conflict(erase_once, what="the citizen")
        return CitizenView(citizen_id, {}, citizen.assurance, [], {}, erased=True)

    # --- authenticators -------------------------------------------------------------------------

    def set_password(
        self, citizen_id: str, password: str, proof: CitizenProof, actor: str
    ) -> Factor:
        proof.check()
        try:
            passwords.check_password_policy(password)
        except passwords.PasswordPolicyError as error:
            raise InvalidInput.of(
                "password",
                POLICY_MESSAGES.get(error.reason, "not acceptable"),
                reason="PASSWORD_POLICY",
            ) from None
        # An unknown or erased citizen is refused before the Argon2id.
        sealed_hash = self._secrets(self._citizen(citizen_id)).hash_password(password)

        def set_password(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "password", actor)
            return citizen.set_password(sealed_hash, actor=actor)

        return self._update(citizen_id, set_password)

    def begin_totp_enrollment(
        self, citizen_id: str, label: str, proof: CitizenProof, actor: str, account: str = ""
    ) -> TotpEnrollment:
        require_text("label", label)
        require_text("account_name", account)
        proof.check()
        citizen = self._citizen(citizen_id)
        self._authorize(citizen, proof, "", actor)
        name = account_name(account, self._view(citizen).personal_data)
        seed = totp.new_totp_seed()
        sealed_seed = self._sealer(citizen).seal("totp_seed", seed)
        authenticator_id = citizen.start_totp_enrollment(
            sealed_seed, label or "authenticator app", actor=actor
        )
        self.save(citizen)
        uri = totp.provisioning_uri(seed, account_name=name, issuer=self.settings.issuer)
        return TotpEnrollment(authenticator_id, uri, totp.qr_svg(uri), totp.qr_png(uri))

    def confirm_totp_enrollment(
        self, citizen_id: str, authenticator_id: str, code: str, proof: CitizenProof, actor: str
    ) -> Factor:
        require_text("authenticator_id", authenticator_id, required=True)
        require_text("code", code, required=True)
        proof.check()

        def confirm(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "totp", actor)
            factor = citizen.factors.get(authenticator_id)
            sealed_seed = factor.secret if factor is not None and factor.method == "totp" else ""
            step = self._totp_step(citizen, sealed_seed, code) if sealed_seed else None
            return citizen.confirm_totp(authenticator_id, step, actor=actor)

        return self._update(citizen_id, confirm)

    def begin_passkey_registration(
        self, citizen_id: str, label: str, proof: CitizenProof, actor: str, account: str = ""
    ) -> tuple[str, str]:
        require_text("label", label)
        require_text("account_name", account)
        proof.check()
        return retry_on_conflict(
            lambda: self._begin_passkey_registration(citizen_id, label, proof, actor, account)
        )

    def _begin_passkey_registration(
        self, citizen_id: str, label: str, proof: CitizenProof, actor: str, account: str
    ) -> tuple[str, str]:
        citizen = self._citizen(citizen_id)
        self._authorize(citizen, proof, "", actor)
        personal = self._view(citizen).personal_data
        claims = claim_user_handle(citizen, actor)
        name = account_name(account, personal)
        options_json, challenge = passkeys.registration_options(
            self.settings.relying_party,
            user_id=base64url.decode(citizen.user_handle),
            user_name=name,
            display_name=full_name(personal) or name,
            exclude_credential_ids=[
                base64url.decode(f.details["credential_id"]) for f in citizen.passkeys()
            ],
            attestation=self._aal3_offered(),
        )
        registration_id = citizen.start_passkey_registration(
            base64url.encode(challenge), label, actor=actor
        )
        self.save(citizen, *claims)
        return registration_id, options_json

    def _aal3_offered(self) -> bool:
        return self.settings.allow_aal3 and bool(self.settings.attestation)

    def complete_passkey_registration(
        self,
        citizen_id: str,
        registration_id: str,
        credential_json: str,
        proof: CitizenProof,
        actor: str,
    ) -> Factor:
        require_text("registration_id", registration_id, required=True)
        require_json("credential_json", credential_json)
        proof.check()

        def register(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "passkey", actor)
            challenge = base64url.decode(citizen.passkey_challenge(registration_id))
            try:
                passkey = passkeys.verify_registration(
                    self.settings.relying_party,
                    credential_json,
                    challenge,
                    trust=self.settings.attestation,
                )
            except passkeys.PasskeyError as error:
                raise InvalidInput.of(
                    "credential_json",
                    f"passkey not accepted: {error.reason}",
                    reason=PASSKEY_REASONS[error.reason],
                ) from None
            return citizen.register_passkey(
                registration_id,
                citizen.passkey_label(registration_id),
                {
                    "credential_id": base64url.encode(passkey.credential_id),
                    "public_key": base64url.encode(passkey.public_key),
                    "sign_count": passkey.sign_count,
                    "transports": list(passkey.transports),
                    "aaguid": passkey.aaguid,
                    "user_verified": passkey.user_verified,
                    "backed_up": passkey.backed_up,
                    "attestation_format": passkey.attestation_format,
                    "attested": passkey.attested,
                    "user_handle": citizen.user_handle,
                },
                actor=actor,
            )

        return self._update(citizen_id, register)

    def issue_recovery_codes(self, citizen_id: str, proof: CitizenProof, actor: str) -> list[str]:
        proof.check()
        # Refused before ten Argon2id hashes, not after them.
        citizen = self._citizen(citizen_id)
        self._authorize(citizen, proof, "", actor)
        codes = recovery_codes.new_recovery_codes()
        sealed_salt, sealed_hashes = self._secrets(citizen).hash_recovery_codes(codes)

        def issue(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "recovery_codes", actor)
            return citizen.issue_recovery_codes(sealed_salt, sealed_hashes, actor=actor)

        self._update(citizen_id, issue)
        return codes

    def remove_authenticator(
        self, citizen_id: str, authenticator_id: str, proof: CitizenProof, actor: str
    ) -> CitizenView:
        require_text("authenticator_id", authenticator_id, required=True)
        proof.check()

        def remove(citizen: Citizen) -> None:
            self._authorize(citizen, proof, "", actor)
            citizen.remove_authenticator(authenticator_id, actor=actor)

        self._update(citizen_id, remove)
        return self.get_citizen(citizen_id)

    def now(self) -> datetime:
        return self._clock()

    def load_citizen(self, citizen_id: str) -> Citizen:
        return self._citizen(citizen_id)

    def unlock_factor(self, citizen_id: str, method: str, reason: str, actor: str) -> CitizenView:
        require_text("reason", reason, required=True)
        self._update(citizen_id, lambda c: c.unlock(method, reason, actor=actor))
        return self.get_citizen(citizen_id)

    # --- authentication -------------------------------------------------------------------------

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
        context = sealed_client(self._sealer(citizen), context)
        completion = Completion(citizen, attempt, context, presented, self._clock(), actor)
        self._refuse_spent_attempt(completion)
        session_id = uuid.uuid4()
        outcome = self._authenticate(completion, str(session_id))
        if "password" in outcome.methods:
            self._rehash_outdated_password(completion.citizen, presented.password, actor)
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
            self._factor_checks(citizen, attempt, completion.now),
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

    def _rehash_outdated_password(self, citizen: Citizen, password: str, actor: str) -> None:
        """A password that has just matched is hashed again when its stored hash was made with
        other Argon2id parameters than today's: raising the parameters reaches every citizen
        who signs in, and the plain password is only ever at hand during a sign-in."""
        secrets = self._secrets(citizen)
        if secrets.needs_rehash(citizen.password_hash()):
            citizen.rehash_password(secrets.hash_password(password), actor=actor)

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
            token_id=_new_token_id(),
            idle_expires_at=min(now + self.settings.session_idle, expires_at),
        )

    def _factor_checks(
        self, citizen: Citizen, attempt: AuthenticationAttempt, now: datetime
    ) -> FactorChecks:
        def passkey(factors: Sequence[Factor], assertion_json: str) -> PasskeyResult:
            return self._check_passkey(
                factors,
                assertion_json,
                attempt.challenge,
                attempt.require_user_verification,
                base64url.encode(citizen.id.bytes),
            )

        secrets = self._secrets(citizen)
        return FactorChecks(
            password_matches=secrets.password_matches,
            totp_step=lambda sealed_seed, code, at: self._totp_step(citizen, sealed_seed, code, at),
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

    # --- sessions and tokens --------------------------------------------------------------------

    def introspect(self, token: str) -> Introspection:
        _check_token_field(token)
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
        _check_token_field(token)
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
            presented, _new_token_id(), now, self.settings.session_idle, context, actor=actor
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
        _require_uuid("session_id", session_id)  # the request's fields first, then who asks
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

    def list_sessions(self, citizen_id: str, asker: SessionsAsker) -> list[Session]:
        """The citizen's sessions, for the citizen (*asker*'s relayed token) or an admin."""
        self._require_sessions_reader(asker, _require_uuid("citizen_id", citizen_id))
        citizen = self._citizen(citizen_id)
        return [self.repository.get(UUID(session_id)) for session_id in citizen.session_ids]

    def jwks_json(self) -> dict[str, object]:
        return self._tokens.jwks()

    # --- helpers --------------------------------------------------------------------------------

    def _totp_step(
        self, citizen: Citizen, sealed_seed: str, code: str, at: datetime | None = None
    ) -> int | None:
        seed = self._sealer(citizen).open("totp_seed", sealed_seed)
        return totp.matching_step(seed, code, at or self._clock())

    def _sealer(self, citizen: Citizen) -> FieldSealer:
        try:
            return self._data_keys.sealer(citizen.id)
        except DataKeyMissing:
            raise FailedPrecondition("this citizen was erased", reason="CITIZEN_ERASED") from None

    def _secrets(self, citizen: Citizen) -> CitizenSecrets:
        return CitizenSecrets(self._sealer(citizen))

    def _view(self, citizen: Citizen) -> CitizenView:
        if citizen.erased:
            return CitizenView(str(citizen.id), {}, citizen.assurance, [], {}, erased=True)
        sealer = self._sealer(citizen)
        personal = {name: sealer.open(name, value) for name, value in citizen.personal_data.items()}
        policy = self.settings.lockout
        factors = [f for f in citizen.factors.values() if f.confirmed]
        locked = {f.authenticator_id: is_locked(policy, f.failures) for f in factors}
        return CitizenView(str(citizen.id), personal, citizen.assurance, factors, locked, False)

    def _citizen(self, citizen_id: str) -> Citizen:
        try:
            citizen: Citizen = self._get(Citizen, citizen_id, "citizen_id")
        except PayloadErased:
            # Erasure dropped the payloads of the citizen's earlier events, so the aggregate
            # cannot be rebuilt: every command on it is refused, none can reach the store.
            raise CitizenErased("this citizen was erased") from None
        return citizen

    def _load(self, aggregate_id: UUID) -> object:
        loaded: object = self.repository.get(aggregate_id)
        return loaded

    def _get(self, kind: type[T], aggregate_id: str, field_name: str) -> T:
        try:
            parsed = UUID(aggregate_id)
        except (ValueError, TypeError):
            raise InvalidInput.of(field_name, "must be a UUID") from None
        try:
            aggregate: object = self.repository.get(parsed)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind):
            raise NotFound(
                f"no such {field_name.removesuffix('_id')}",
                reason=NOT_FOUND_REASONS.get(field_name, "NOT_FOUND"),
            )
        return aggregate

    def _update(self, citizen_id: str, change: Callable[[Citizen], T]) -> T:
        def load_change_save() -> T:
            citizen = self._citizen(citizen_id)
            result = change(citizen)
            self.save(citizen)
            return result

        return retry_on_conflict(load_change_save)


def _require_uuid(field_name: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput.of(field_name, "must be a UUID") from None


def _check_token_field(token: str) -> None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidInput.of("token", "a JWT of at most 8 KiB is required")


def _new_token_id() -> str:
    """A JWT `jti` (RFC 7519 §4.1.7): random, so no two tokens share one."""
    return str(uuid.uuid4())
