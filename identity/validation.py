"""Input rules for the identity commands: checked before anything is loaded, sealed or saved,
so bad input never reaches the store, and every problem is named by its field."""

from __future__ import annotations

import re
from datetime import date

from identity import passwords
from identity.citizen import Presented
from ledger.errors import FieldViolation, InvalidInput

PERSONAL_FIELDS = (
    "given_name",
    "family_name",
    "birth_date",
    "email",
    "phone",
    "national_identifier",
)
ASSURANCE_LEVELS = ("IAL1", "IAL2", "IAL3")
MAX_TEXT = 256
MAX_JSON = 64 * 1024
MAX_ADDRESS = 64  # an IPv6 address with its zone and port
MAX_USER_AGENT = 512  # browsers send 100 to 300 characters
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

POLICY_MESSAGES = {
    "too_short": f"must be at least {passwords.MIN_LENGTH} characters",
    "too_long": f"must be at most {passwords.MAX_LENGTH} characters",
    "common": "is too common; choose another",
    "invalid": "contains characters that are not allowed",
}


def validate_personal_data(personal_data: dict[str, str], assurance: str, evidence: str) -> None:
    violations = [
        FieldViolation(f"personal_data.{name}", f"at most {MAX_TEXT} characters")
        for name, value in personal_data.items()
        if len(value) > MAX_TEXT
    ]
    if not personal_data.get("national_identifier", "").strip():
        violations.append(FieldViolation("personal_data.national_identifier", "is required"))
    birth_date = personal_data.get("birth_date", "")
    if birth_date:
        try:
            date.fromisoformat(birth_date)
        except ValueError:
            violations.append(FieldViolation("personal_data.birth_date", "must be YYYY-MM-DD"))
    email = personal_data.get("email", "")
    if email and not EMAIL.fullmatch(email):
        violations.append(FieldViolation("personal_data.email", "is not an email address"))
    if assurance not in ASSURANCE_LEVELS:
        violations.append(FieldViolation("assurance", "one of IAL1, IAL2, IAL3"))
    if len(evidence) > 1000:
        violations.append(FieldViolation("evidence", "at most 1000 characters"))
    if violations:
        raise InvalidInput(violations)


def client_violations(client: tuple[str, str]) -> list[FieldViolation]:
    """The ClientContext of a request: recorded with the event, in the ledger, so kept short.
    The gRPC edge refuses the same sizes in bytes first (civitas/api/field_limits.py); this
    holds for every other caller of the application."""
    limits = (
        ("client.address", client[0], MAX_ADDRESS),
        ("client.user_agent", client[1], MAX_USER_AGENT),
    )
    return [
        FieldViolation(name, f"at most {limit} characters")
        for name, value, limit in limits
        if len(value) > limit
    ]


def validate_presented(presented: Presented, client: tuple[str, str]) -> None:
    """The factors and the client context of one attempt (CompleteAuthenticationRequest)."""
    factors = (
        ("password", presented.password, 1024),
        ("totp_code", presented.totp_code, 16),
        ("passkey_assertion_json", presented.passkey_assertion_json, MAX_JSON),
        ("recovery_code", presented.recovery_code, 64),
    )
    violations = [
        FieldViolation(name, f"at most {limit} characters")
        for name, value, limit in factors
        if len(value) > limit
    ] + client_violations(client)
    if not presented.methods():
        # No single field is wrong: each factor field is named, so a form can mark them all.
        violations += [FieldViolation(name, "present at least one factor") for name, *_ in factors]
    if violations:
        empty = not presented.methods()  # the citizen sent an empty form: ask them, not the code
        raise InvalidInput(violations, reason="NO_FACTOR_PRESENTED" if empty else None)


def require_text(field_name: str, value: str, *, required: bool = False) -> None:
    if required and not value.strip():
        raise InvalidInput.of(field_name, "is required")
    if len(value) > MAX_TEXT:
        raise InvalidInput.of(field_name, f"at most {MAX_TEXT} characters")


def require_json(field_name: str, value: str) -> None:
    if not value.strip():
        raise InvalidInput.of(field_name, "is required")
    if len(value) > MAX_JSON:
        raise InvalidInput.of(field_name, f"at most {MAX_JSON} bytes")
