"""Service accounts: who may call the API, with which capabilities. Each change is a ledger event.

An account's role is one capability or several, comma-separated: `registrar` (identity
proofing: registering and finding citizens), `relying-service` (signing citizens in),
`agency:<name>` (transactions for that agency's own services), `auditor` (reading the log) and
`admin` (unlocking, erasing and recovering citizens, and auditing). One account may hold
several, e.g. `agency:building,registrar,relying-service` for a building office's counter portal.

An account is found by name without an index: its id is a UUIDv5 of the name, so creating an
account whose name exists collides on version 1 in the store (optimistic concurrency), and an API
key `cvk.<name>.<secret>` leads straight to the account that holds its hash.

API keys carry 256 random bits, so a single SHA-256 suffices to store them safely (a slow
password hash guards low-entropy secrets; these have none to guess).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError

from ledger.errors import Conflict, FieldViolation, InvalidInput, NotFound, Unauthenticated
from ledger.events import LedgerAggregate
from ledger.store import LedgerApplication

ACCOUNT_NAMESPACE = uuid5(NAMESPACE_URL, "civitas:service-account")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CAPABILITY_PATTERN = re.compile(
    r"(agency:[a-z0-9][a-z0-9-]{0,62}|registrar|relying-service|auditor|admin)"
)
CAPABILITIES_HELP = "agency:<name>, registrar, relying-service, auditor or admin"
KEY_PREFIX = "cvk"


def account_id(name: str) -> UUID:
    return uuid5(ACCOUNT_NAMESPACE, name)


def hash_api_key_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def capabilities_of(role: str) -> frozenset[str]:
    """The capabilities a role string holds (`agency:tax,relying-service` holds two)."""
    return frozenset(part for part in role.split(",") if part)


def normalised_role(role: str) -> str:
    """One spelling per set of capabilities: sorted, no spaces, no repeats."""
    return ",".join(sorted(capabilities_of(role.replace(" ", ""))))


def validate_account(name: str, role: str) -> None:
    violations = []
    if not NAME_PATTERN.fullmatch(name):
        violations.append(FieldViolation("name", "1-63 of a-z, 0-9 and '-', not starting with '-'"))
    capabilities = capabilities_of(role)
    agencies = [c for c in capabilities if c.startswith("agency:")]
    if (
        not capabilities
        or not all(CAPABILITY_PATTERN.fullmatch(c) for c in capabilities)
        or len(agencies) > 1  # an account speaks for one agency at most
    ):
        violations.append(
            FieldViolation("role", f"comma-separated capabilities: {CAPABILITIES_HELP}")
        )
    if violations:
        raise InvalidInput(violations)


class ServiceAccount(LedgerAggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return account_id(name)

    @event("Created")
    def __init__(self, name: str, role: str, key_sha256: str, actor: str) -> None:
        self.name = name
        self.role = role
        self.key_sha256 = key_sha256
        self.revoked = False

    @event("RoleChanged")
    def change_role(self, role: str, actor: str) -> None:
        self.role = role

    @event("KeyReplaced")
    def replace_key(self, key_sha256: str, actor: str) -> None:
        self.key_sha256 = key_sha256

    @event("Revoked")
    def revoke(self, reason: str, actor: str) -> None:
        self.revoked = True

    def accepts(self, secret: str) -> bool:
        return not self.revoked and hmac.compare_digest(
            self.key_sha256, hash_api_key_secret(secret)
        )


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of the API."""

    name: str
    role: str  # "citizen", or an account's comma-separated capabilities

    @property
    def capabilities(self) -> frozenset[str]:
        return capabilities_of(self.role)

    @property
    def principal(self) -> str:
        """How the caller appears as an entry's actor."""
        return f"citizen:{self.name}" if self.role == "citizen" else f"service:{self.name}"


@dataclass(frozen=True)
class IssuedKey:
    account: Caller
    api_key: str  # shown once, never stored


class ServiceAccounts(LedgerApplication):
    def create(self, name: str, role: str, actor: str) -> IssuedKey:
        role = normalised_role(role)
        validate_account(name, role)
        secret = secrets.token_urlsafe(32)
        account = ServiceAccount(name, role, hash_api_key_secret(secret), actor=actor)
        try:
            self.save(account)
        except IntegrityError:
            raise Conflict(f"account {name!r} already exists", reason="ACCOUNT_EXISTS") from None
        return IssuedKey(Caller(name, role), f"{KEY_PREFIX}.{name}.{secret}")

    def change_role(self, name: str, role: str, actor: str) -> Caller:
        role = normalised_role(role)
        validate_account(name, role)
        account = self._get(name)
        account.change_role(role, actor=actor)
        self.save(account)
        return Caller(name, role)

    def replace_key(self, name: str, actor: str) -> IssuedKey:
        account = self._get(name)
        secret = secrets.token_urlsafe(32)
        account.replace_key(hash_api_key_secret(secret), actor=actor)
        self.save(account)
        return IssuedKey(Caller(name, account.role), f"{KEY_PREFIX}.{name}.{secret}")

    def revoke(self, name: str, reason: str, actor: str) -> None:
        account = self._get(name)
        if not account.revoked:
            account.revoke(reason, actor=actor)
            self.save(account)

    def authenticate_key(self, api_key: str) -> Caller:
        prefix, _, rest = api_key.partition(".")
        name, _, secret = rest.partition(".")
        if prefix != KEY_PREFIX or not NAME_PATTERN.fullmatch(name) or not secret:
            raise Unauthenticated("malformed API key", reason="MALFORMED_API_KEY")
        try:
            account = self._get(name)
        except NotFound:
            raise Unauthenticated("unknown or revoked API key", reason="UNKNOWN_API_KEY") from None
        if not account.accepts(secret):
            raise Unauthenticated("unknown or revoked API key", reason="UNKNOWN_API_KEY")
        return Caller(name, account.role)

    def find(self, name: str) -> Caller | None:
        try:
            account = self._get(name)
        except NotFound:
            return None
        return None if account.revoked else Caller(name, account.role)

    def _get(self, name: str) -> ServiceAccount:
        if not NAME_PATTERN.fullmatch(name):
            raise NotFound(f"no account {name!r}", reason="ACCOUNT_NOT_FOUND")
        try:
            account: ServiceAccount = self.repository.get(account_id(name))
        except AggregateNotFoundError:
            raise NotFound(f"no account {name!r}", reason="ACCOUNT_NOT_FOUND") from None
        return account
