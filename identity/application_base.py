"""What every part of the identity application shares: its settings, the values it answers
with, and loading, sealing and saving a citizen. The commands are in `registration`,
`enrolment`, `authentication` and `session_commands`, mixed into `IdentityApplication`.

Base64url values decoded here and in the commands (credential ids, public keys, challenges,
salts) were written by `base64url.encode` into this application's own events; the strict decoder
therefore refuses only a corrupted value, which a lenient one would have turned into different
bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Recording

from identity import passkeys, totp
from identity.attestation import NO_TRUST, TrustAnchors
from identity.citizen import (
    Citizen,
    Factor,
)
from identity.lockout import LockoutPolicy, is_locked
from identity.personal_data import (
    DataKeyMissing,
    DataKeyStore,
    FieldSealer,
    NationalIdentifierIndex,
)
from identity.sealed_secrets import CitizenSecrets
from identity.token_issuance import TokenIssuer
from identity.tokens import MAX_TOKEN_LENGTH, TokenSigner
from ledger.data_access import DataAccessLog
from ledger.errors import (
    FailedPrecondition,
    InvalidInput,
    NotFound,
)
from ledger.mapper import PayloadErased
from ledger.retry import retry_on_conflict
from ledger.store import LedgerApplication, LedgerStore

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


class CitizenErased(FailedPrecondition):
    """The citizen was erased: there is nothing left to read or change."""

    reason = "CITIZEN_ERASED"


class IdentityBase(LedgerApplication):
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

    def get_citizen(self, citizen_id: str) -> CitizenView:
        try:
            return self._view(self._citizen(citizen_id))
        except CitizenErased:
            return CitizenView(citizen_id, {}, "", [], {}, erased=True)

    def now(self) -> datetime:
        return self._clock()

    def load_citizen(self, citizen_id: str) -> Citizen:
        return self._citizen(citizen_id)

    def _aal3_offered(self) -> bool:
        return self.settings.allow_aal3 and bool(self.settings.attestation)

    # --- loading, sealing, saving -----------------------------------------------------------------

    def _totp_step(
        self, sealer: FieldSealer, sealed_seed: str, code: str, at: datetime | None = None
    ) -> int | None:
        seed = sealer.open("totp_seed", sealed_seed)
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
        if citizen.erased:  # a cached copy, brought up to date by the Erased event
            raise CitizenErased("this citizen was erased")
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


def require_uuid(field_name: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput.of(field_name, "must be a UUID") from None


def check_token_field(token: str) -> None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidInput.of("token", "a JWT of at most 8 KiB is required")


def new_token_id() -> str:
    """A JWT `jti` (RFC 7519 §4.1.7): random, so no two tokens share one."""
    return str(uuid.uuid4())
