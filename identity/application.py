"""The identity application: one method per command, each loading, deciding and saving.

Secrets (passwords, codes, assertions) arrive here, are checked by the pure modules
(`passwords`, `totp`, `recovery_codes`, `passkeys`), and go no further: events carry sealed
values (hashes and salts too: `sealed_secrets`) and outcomes only.

The commands live in one module per concern, each a mixin on `IdentityBase`
(`identity.application_base`), in the style of `identity.authority` and `identity.recovery`;
this module composes them and keeps the names callers import from it.
"""

from __future__ import annotations

from typing import ClassVar

from identity.activation import Activation
from identity.application_base import (
    ATTEMPT_EVENTS,
    NOT_FOUND_REASONS,
    AuthenticationRecorded,
    Challenge,
    CitizenErased,
    CitizenView,
    Clock,
    IdentitySettings,
    Introspection,
    SignedIn,
    TotpEnrollment,
)
from identity.authentication import Authentication, Completion
from identity.citizen import Citizen, Factor
from identity.enrolment import Enrolment
from identity.recovery import PendingRecovery, RecoveryCommands
from identity.registration import Registration
from identity.session import Session

__all__ = [
    "ATTEMPT_EVENTS",
    "NOT_FOUND_REASONS",
    "AuthenticationRecorded",
    "Challenge",
    "CitizenErased",
    "CitizenView",
    "Clock",
    "Completion",
    "IdentityApplication",
    "IdentitySettings",
    "Introspection",
    "SignedIn",
    "TotpEnrollment",
]


class IdentityApplication(RecoveryCommands, Registration, Enrolment, Authentication):
    """The identity application, one concern per mixin: registration and lookup
    (`identity.registration`), enrolment of authenticators (`identity.enrolment`), sign-in
    (`identity.authentication`), sessions and tokens (`identity.session_commands`, which also
    holds the proof checks of `identity.authority`), and admin recovery (`identity.recovery`);
    `identity.application_base` holds what they share."""

    # A citizen's stream grows with every attempt and a session's with every refresh: both are
    # loaded from their latest signed snapshot (issue 14, docs/decisions/signed-snapshots.md).
    snapshotted: ClassVar[dict[type, tuple[type, ...]]] = {
        Citizen: (Factor, Activation, PendingRecovery),
        Session: (),
    }
