"""Refusals that the RPC fuzz (tests/civitas/test_fuzz.py) found wanting: a command on an erased
citizen was an INTERNAL error (erasing twice, signing in, …), and a password or recovery codes
for an unknown citizen were hashed with Argon2id before the citizen was looked up."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from civitas.node import Node
from identity import passwords, recovery_codes
from identity.application import IdentityApplication
from identity.citizen import Presented
from ledger.errors import FailedPrecondition, NotFound
from tests.identity.conftest import person

ACTOR = "service:test-portal"
PASSWORD = "a long and unusual passphrase"


def test_every_command_on_an_erased_citizen_is_refused_and_writes_nothing(
    node: Node, identity: IdentityApplication
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, ACTOR)
    attempt = identity.begin_authentication(citizen, "tax-portal", ACTOR).attempt_id
    identity.erase_citizen(citizen, "GDPR art. 17 request", "service:admin")
    written = node.store.recorder.max_notification_id()

    commands: list[Callable[[], object]] = [
        lambda: identity.erase_citizen(citizen, "again", "service:admin"),
        lambda: identity.set_password(citizen, PASSWORD, ACTOR),
        lambda: identity.begin_totp_enrollment(citizen, "phone", ACTOR),
        lambda: identity.begin_passkey_registration(citizen, "laptop", ACTOR),
        lambda: identity.issue_recovery_codes(citizen, ACTOR),
        lambda: identity.remove_authenticator(
            citizen, "00000000-0000-0000-0000-000000000000", ACTOR
        ),
        lambda: identity.unlock_factor(citizen, "password", "helpdesk call", "service:admin"),
        lambda: identity.begin_authentication(citizen, "tax-portal", ACTOR),
        lambda: identity.complete_authentication(
            attempt, Presented(password=PASSWORD), ("192.0.2.1", "test"), "tax-portal", ACTOR
        ),
        lambda: identity.list_sessions(citizen),
    ]
    for command in commands:
        with pytest.raises(FailedPrecondition, match="erased"):
            command()
    assert node.store.recorder.max_notification_id() == written
    assert identity.get_citizen(citizen).erased


def test_an_unknown_citizen_is_refused_before_any_costly_hash(
    identity: IdentityApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    def counted(kind: str) -> Callable[..., str]:
        def hash_(*args: object) -> str:
            hashed.append(kind)
            return ""

        return hash_

    monkeypatch.setattr(passwords, "hash_password", counted("password"))
    monkeypatch.setattr(recovery_codes, "hash_recovery_code", counted("recovery code"))
    nobody = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFound):
        identity.set_password(nobody, PASSWORD, ACTOR)
    with pytest.raises(NotFound):
        identity.issue_recovery_codes(nobody, ACTOR)
    assert hashed == []
