"""The largest value each request field may carry, checked before any work (issue 14).

One table, `FIELD_LIMITS`, keyed by the proto field's full name, gives every string and bytes
field of every request its maximum size in bytes (UTF-8 for a string) and every repeated field
its maximum count. `check_field_limits` walks a decoded request, nested messages included, and
refuses it with `INVALID_ARGUMENT` (`FIELD_TOO_LONG`, a `BadRequest` naming each field path)
before the handler runs: nothing is loaded, checked or written for it. The server's receive
limit, `MAX_REQUEST_BYTES`, is the largest request the table allows, so gRPC itself refuses
anything bigger before it is even decoded. docs/limits.md is generated from this table
(`limits_markdown`) and a test keeps the two equal; another fails if a request field has no limit.

The domain's own rules still apply behind this edge, often stricter and counted in characters
(a password of at most 128 characters, a reason of at most 2,000): the table bounds what a
request can cost, so free text gets four bytes for each character its rule allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from identity.activation import MAX_CODE_LENGTH
from identity.tokens import MAX_TOKEN_LENGTH
from identity.validation import MAX_ADDRESS, MAX_JSON, MAX_USER_AGENT
from ledger.errors import FieldViolation, InvalidInput
from protos.civitas.v1 import audit_pb2, history_pb2, identity_pb2, transaction_pb2

PROTO_FILES = (audit_pb2, history_pb2, identity_pb2, transaction_pb2)
_PACKAGE = "civitas.v1."
RequestT = TypeVar("RequestT")
UTF8_MAX_BYTES_PER_CHARACTER: Final = 4
KIB: Final = 1024


@dataclass(frozen=True)
class FieldLimit:
    """`max_bytes` for each value of a string or bytes field; `max_items` for a repeated one."""

    max_bytes: int = 0
    max_items: int = 0
    why: str = ""


def _text(characters: int, why: str) -> FieldLimit:
    """Free text whose rule counts characters: room for that many of any script."""
    return FieldLimit(characters * UTF8_MAX_BYTES_PER_CHARACTER, why=why)


_ID = FieldLimit(64, why="a UUID is 36 characters")
_PURPOSE = FieldLimit(256, why="why personal data is read, one sentence")
_LABEL = FieldLimit(64, why="a name the citizen gives a sign-in method")
_ACCOUNT_NAME = FieldLimit(256, why="an email address or a name")
_TOKEN = FieldLimit(MAX_TOKEN_LENGTH, why="a citizen's JWT: about 600 bytes")
_ACTIVATION_CODE = FieldLimit(MAX_CODE_LENGTH, why="activation codes are 20 characters")
_ADMIN_REASON = _text(500, "why an officer acted; at most 500 characters")
_CASE_TEXT = _text(2000, "read by the citizen in their history; at most 2,000 characters")
_PAGE_TOKEN = FieldLimit(128, why="page tokens this service gives are under 70 bytes")
_WEBAUTHN_JSON = FieldLimit(MAX_JSON, why="a WebAuthn response with attestation and extensions")
_CODE = FieldLimit(16, why="a 6 to 8 digit code, with spaces a citizen may type")

FIELD_LIMITS: Final[Mapping[str, FieldLimit]] = {
    f"{_PACKAGE}{name}": limit
    for name, limit in {
        # Shared messages
        "ClientContext.address": FieldLimit(MAX_ADDRESS, why="an IPv6 address, zone, port"),
        "ClientContext.user_agent": FieldLimit(MAX_USER_AGENT, why="browsers send 100-300"),
        "CitizenProof.citizen_token": _TOKEN,
        "CitizenProof.activation_code": _ACTIVATION_CODE,
        "PersonalData.given_name": _text(256, "at most 256 characters"),
        "PersonalData.family_name": _text(256, "at most 256 characters"),
        "PersonalData.birth_date": FieldLimit(16, why="YYYY-MM-DD"),
        "PersonalData.email": FieldLimit(254, why="RFC 5321's longest address"),
        "PersonalData.phone": FieldLimit(32, why="E.164 is 15 digits, with spaces and signs"),
        "PersonalData.national_identifier": FieldLimit(64, why="national ids are 11 to 20"),
        "Amount.currency": FieldLimit(8, why="ISO 4217 codes are 3 letters"),
        # AuditService
        "StreamProjectionRequest.name": FieldLimit(64, why="a projection's name"),
        "ProveDataKeysRequest.challenge": FieldLimit(64, why="16 to 64 random bytes"),
        # HistoryService
        "ListMyHistoryRequest.kinds": FieldLimit(32, 32, why="14 kinds, each a short name"),
        "ListMyHistoryRequest.page_token": _PAGE_TOKEN,
        "GetReceiptRequest.stream": _ID,
        "WatchMyHistoryRequest.kinds": FieldLimit(32, 32, why="14 kinds, each a short name"),
        # IdentityService
        "RegisterCitizenRequest.evidence": _text(1000, "how identity was proofed"),
        "GetCitizenRequest.citizen_id": _ID,
        "GetCitizenRequest.purpose": _PURPOSE,
        "FindCitizenRequest.national_identifier": FieldLimit(64, why="as PersonalData's"),
        "FindCitizenRequest.purpose": _PURPOSE,
        "SetPasswordRequest.citizen_id": _ID,
        "SetPasswordRequest.password": FieldLimit(1 * KIB, why="Argon2 input; NIST asks >= 64"),
        "BeginTotpEnrollmentRequest.citizen_id": _ID,
        "BeginTotpEnrollmentRequest.label": _LABEL,
        "BeginTotpEnrollmentRequest.account_name": _ACCOUNT_NAME,
        "ConfirmTotpEnrollmentRequest.citizen_id": _ID,
        "ConfirmTotpEnrollmentRequest.authenticator_id": _ID,
        "ConfirmTotpEnrollmentRequest.code": _CODE,
        "BeginPasskeyRegistrationRequest.citizen_id": _ID,
        "BeginPasskeyRegistrationRequest.label": _LABEL,
        "BeginPasskeyRegistrationRequest.account_name": _ACCOUNT_NAME,
        "CompletePasskeyRegistrationRequest.citizen_id": _ID,
        "CompletePasskeyRegistrationRequest.registration_id": _ID,
        "CompletePasskeyRegistrationRequest.credential_json": _WEBAUTHN_JSON,
        "IssueRecoveryCodesRequest.citizen_id": _ID,
        "RemoveAuthenticatorRequest.citizen_id": _ID,
        "RemoveAuthenticatorRequest.authenticator_id": _ID,
        "BeginAuthenticationRequest.citizen_id": _ID,
        "BeginAuthenticationRequest.required_acr": FieldLimit(16, why="AAL1, AAL2 or AAL3"),
        "CompleteAuthenticationRequest.attempt_id": _ID,
        "CompleteAuthenticationRequest.password": FieldLimit(1 * KIB, why="as SetPassword's"),
        "CompleteAuthenticationRequest.totp_code": _CODE,
        "CompleteAuthenticationRequest.passkey_assertion_json": _WEBAUTHN_JSON,
        "CompleteAuthenticationRequest.recovery_code": FieldLimit(64, why="codes are 10-20"),
        "IntrospectTokenRequest.token": _TOKEN,
        "RefreshSessionRequest.token": _TOKEN,
        "RevokeSessionRequest.session_id": _ID,
        "RevokeSessionRequest.reason": _ADMIN_REASON,
        "ListSessionsRequest.citizen_id": _ID,
        "ListSessionsRequest.page_token": _PAGE_TOKEN,
        "UnlockFactorRequest.citizen_id": _ID,
        "UnlockFactorRequest.method": FieldLimit(32, why="password, totp, passkey, ..."),
        "UnlockFactorRequest.reason": _ADMIN_REASON,
        "EraseCitizenRequest.citizen_id": _ID,
        "EraseCitizenRequest.reason": _ADMIN_REASON,
        "StartRecoveryRequest.citizen_id": _ID,
        "StartRecoveryRequest.reason": _ADMIN_REASON,
        "StartRecoveryRequest.evidence_reference": FieldLimit(256, why="a proofing record's id"),
        "CancelRecoveryRequest.citizen_id": _ID,
        "CancelRecoveryRequest.reason": _ADMIN_REASON,
        "CompleteRecoveryRequest.citizen_id": _ID,
        # TransactionService
        "SubmitTransactionRequest.idempotency_key": FieldLimit(128, why="a UUID or a hash"),
        "SubmitTransactionRequest.service_code": FieldLimit(64, why="a catalogue code"),
        "SubmitTransactionRequest.citizen_id": _ID,
        "SubmitTransactionRequest.documents": FieldLimit(64, 50, why="SHA-256 hex, 50 at most"),
        "SubmitTransactionRequest.note": _CASE_TEXT,
        "TransitionRequest.transaction_id": _ID,
        "TransitionRequest.reason": _CASE_TEXT,
        "ProvideInformationRequest.transaction_id": _ID,
        "ProvideInformationRequest.documents": FieldLimit(64, 50, why="SHA-256 hex, 50 at most"),
        "ProvideInformationRequest.note": _CASE_TEXT,
        "GetTransactionRequest.transaction_id": _ID,
        "GetTransactionRequest.purpose": _PURPOSE,
        "ListTransactionsRequest.statuses": FieldLimit(32, 16, why="7 statuses"),
        "ListTransactionsRequest.page_token": _PAGE_TOKEN,
        "WatchTransactionRequest.transaction_id": _ID,
    }.items()
}


def check_field_limits(request: RequestT) -> RequestT:
    """The request unchanged when every field is within its limit, else `InvalidInput`
    (FIELD_TOO_LONG) naming each field that is not. A method without a protobuf request (raw
    bytes, no deserializer) has no fields: gRPC's receive limit bounds it."""
    if not isinstance(request, Message):
        return request
    violations = list(_violations(request, ""))
    if violations:
        raise InvalidInput(violations, reason="FIELD_TOO_LONG")
    return request


def _violations(message: Message, prefix: str) -> Iterator[FieldViolation]:
    for field, value in message.ListFields():  # only the fields that are set: cheap
        path = f"{prefix}{field.name}"
        limit = FIELD_LIMITS.get(field.full_name)
        if field.is_repeated:
            if limit is None:  # a repeated field the table forgot: a bug, refused (tested)
                raise LookupError(f"no limit for {field.full_name}")
            if len(value) > limit.max_items:
                yield FieldViolation(path, f"at most {limit.max_items} items")
                continue
            for index, item in enumerate(value):
                yield from _value_violations(field, item, f"{path}[{index}]", limit)
        else:
            yield from _value_violations(field, value, path, limit)


def _value_violations(
    field: FieldDescriptor, value: object, path: str, limit: FieldLimit | None
) -> Iterator[FieldViolation]:
    if isinstance(value, Message):
        yield from _violations(value, f"{path}.")
    elif isinstance(value, str | bytes):
        if limit is None:
            raise LookupError(f"no limit for {field.full_name}")
        if _size(value, limit.max_bytes) > limit.max_bytes:
            yield FieldViolation(path, f"at most {limit.max_bytes} bytes")


def _size(value: str | bytes, limit: int) -> int:
    """The value's size in bytes, encoding a string only when its length leaves it in doubt."""
    if isinstance(value, bytes) or len(value) > limit:
        return len(value)
    if len(value) * UTF8_MAX_BYTES_PER_CHARACTER <= limit:
        return len(value)
    return len(value.encode("utf-8", "surrogatepass"))


# --- What the table means for the whole request ---------------------------------------------


def request_descriptors() -> list[Descriptor]:
    """Every request message of every Civitas RPC, each once."""
    found: dict[str, Descriptor] = {}
    for module in PROTO_FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.setdefault(method.input_type.full_name, method.input_type)
    return list(found.values())


def bounded_fields(descriptor: Descriptor) -> Iterator[FieldDescriptor]:
    """Every string, bytes or repeated field a request can carry, nested messages included."""
    seen: set[str] = set()
    pending = [descriptor]
    while pending:
        current = pending.pop()
        if current.full_name in seen:
            continue
        seen.add(current.full_name)
        for field in current.fields:
            if field.is_repeated or field.type in (field.TYPE_STRING, field.TYPE_BYTES):
                yield field
            if field.message_type is not None:
                pending.append(field.message_type)


# A field's tag with a 5-byte length prefix (or a 10-byte varint): every field's framing.
_FRAMING = 2 + 5
_SCALAR = 2 + 10


def largest_request(descriptor: Descriptor) -> int:
    """An upper bound of the encoded size of the largest request the table allows."""
    total = 0
    for field in descriptor.fields:
        limit = FIELD_LIMITS.get(field.full_name, FieldLimit())
        count = limit.max_items if field.is_repeated else 1
        if field.message_type is not None:
            one = _FRAMING + largest_request(field.message_type)
        elif field.type in (field.TYPE_STRING, field.TYPE_BYTES):
            one = _FRAMING + limit.max_bytes
        else:
            one = _SCALAR
        total += count * one
    return total


def _largest_of_all(descriptors: Iterable[Descriptor]) -> int:
    largest = max(largest_request(d) for d in descriptors)
    return -(-largest // (4 * KIB)) * 4 * KIB  # rounded up to 4 KiB


# The server's grpc.max_receive_message_length: gRPC refuses a larger request undecoded
# (RESOURCE_EXHAUSTED), since no field of it can be within its limit.
MAX_REQUEST_BYTES: Final = _largest_of_all(request_descriptors())


def limits_markdown() -> str:
    """docs/limits.md's table of fields, from FIELD_LIMITS (a test keeps the doc equal)."""
    lines = [
        "| Field | Max bytes | Max items | Why |",
        "|---|---|---|---|",
    ]
    for name, limit in sorted(FIELD_LIMITS.items()):
        items = str(limit.max_items) if limit.max_items else ""
        lines.append(
            f"| `{name.removeprefix(_PACKAGE)}` | {limit.max_bytes:,} | {items} | {limit.why} |"
        )
    return "\n".join(lines) + "\n"
