"""The identity application on SQLite and PostgreSQL: enrolment, sign-in, lockout, erasure."""

from __future__ import annotations

import sqlite3
import threading
import time
from uuid import UUID

import pytest

from civitas.node import Node
from civitas.soft_authenticator import SoftAuthenticator
from identity import passwords
from identity.application import IdentityApplication
from identity.citizen import Citizen, Presented
from identity.refusals import AuthenticationFailedError
from ledger.errors import InvalidInput, NotFound
from tests.identity.conftest import (
    ACTOR,
    ORIGIN,
    REGISTRAR,
    RP,
    Clock,
    code_at,
    own_sessions,
    owner,
    person,
    seed_of,
)

PASSWORD = "correct horse battery staple"


def event_count(node: Node, stream: str) -> int:
    return len(node.store.recorder.select_events(UUID(stream)))


def topics(node: Node, stream: str) -> list[str]:
    return [e.topic for e in node.store.recorder.select_events(UUID(stream))]


def sign_in(identity: IdentityApplication, citizen_id: str, **factors: str):  # type: ignore[no-untyped-def]
    challenge = identity.begin_authentication(citizen_id, "test-portal", ACTOR)
    return identity.complete_authentication(
        challenge.attempt_id, Presented(**factors), ("203.0.113.7", "pytest"), "test-portal", ACTOR
    )


def stored_password_hash(identity: IdentityApplication, citizen_id: str) -> str:
    """The PHC string the citizen's password factor holds, opened with their data key."""
    citizen: Citizen = identity.repository.get(UUID(citizen_id))
    return identity._secrets(citizen).password_hash(citizen.password_hash())


def with_totp(identity: IdentityApplication, clock: Clock, citizen_id: str) -> str:
    enrollment = identity.begin_totp_enrollment(
        citizen_id, "phone", owner(identity, citizen_id), ACTOR
    )
    assert enrollment.provisioning_uri.startswith("otpauth://totp/")
    assert "<svg" in enrollment.qr_svg
    assert enrollment.qr_png.startswith(b"\x89PNG")
    seed = seed_of(enrollment.provisioning_uri)
    identity.confirm_totp_enrollment(
        citizen_id,
        enrollment.authenticator_id,
        code_at(seed, clock.now),
        owner(identity, citizen_id),
        ACTOR,
    )
    return seed


def test_registration_seals_personal_data_and_finds_by_national_identifier(
    node: Node, identity: IdentityApplication
) -> None:
    view = identity.register_citizen(person(), "IAL2", "passport at counter", REGISTRAR, ACTOR)
    assert view.personal_data["family_name"] == "Tamm"
    assert identity.find_citizen(" 19850412-1234 ").citizen_id == view.citizen_id
    stored = b"".join(e.state for e in node.store.recorder.select_events(UUID(view.citizen_id)))
    for secret in (b"Tamm", b"Maarja", b"19850412-1234", b"maarja@example.test"):
        assert secret not in stored
    # A national identifier registered already: that citizen, to the registrar, with no code.
    again = identity.register_citizen(person(given_name="Other"), "IAL1", "", REGISTRAR, ACTOR)
    assert (again.citizen_id, again.already_registered) == (view.citizen_id, True)
    assert again.personal_data["given_name"] == "Maarja"
    assert (view.activation_code != "", again.activation_code) == (True, "")
    with pytest.raises(NotFound):
        identity.find_citizen("00000000-0000")


@pytest.mark.parametrize(
    ("data", "assurance", "field"),
    [
        (person(national_identifier=""), "IAL1", "personal_data.national_identifier"),
        (person(birth_date="12/04/1985"), "IAL1", "personal_data.birth_date"),
        (person(email="not-an-email"), "IAL1", "personal_data.email"),
        (person(given_name="x" * 300), "IAL1", "personal_data.given_name"),
        (person(), "IAL9", "assurance"),
    ],
)
def test_bad_registration_is_refused_and_writes_nothing(
    node: Node, identity: IdentityApplication, data: dict[str, str], assurance: str, field: str
) -> None:
    before = node.store.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as raised:
        identity.register_citizen(data, assurance, "", REGISTRAR, ACTOR)
    assert field in [v.field for v in raised.value.violations]
    assert node.store.recorder.max_notification_id() == before


def test_password_policy_and_sign_in(node: Node, identity: IdentityApplication) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    for weak in ("short", "qwertyuiop"):
        with pytest.raises(InvalidInput) as raised:
            identity.set_password(citizen, weak, owner(identity, citizen), ACTOR)
        assert weak not in str(raised.value)
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    signed_in = sign_in(identity, citizen, password=PASSWORD)
    assert signed_in.acr == "AAL1"
    assert signed_in.amr == ["pwd"]
    assert identity.introspect(signed_in.token).active
    with pytest.raises(AuthenticationFailedError, match="password_mismatch"):
        sign_in(identity, citizen, password="wrong password!")
    assert topics(node, citizen)[-2:] == [
        "identity.Citizen.AuthenticationSucceeded",
        "identity.Citizen.AuthenticationFailed",
    ]
    stored = b"".join(e.state for e in node.store.recorder.select_events(UUID(citizen)))
    assert PASSWORD.encode() not in stored


def test_a_sign_in_rehashes_a_password_hashed_with_older_parameters(
    node: Node, identity: IdentityApplication, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    seed = with_totp(identity, clock, citizen)
    assert stored_password_hash(identity, citizen).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    monkeypatch.setattr(passwords, "ITERATIONS", 3)  # the deployment raises its parameters

    with pytest.raises(AuthenticationFailedError, match="password_mismatch"):
        sign_in(identity, citizen, password="wrong password!")
    clock.advance(seconds=30)  # the enrolment's code is spent, and the failure's delay is over
    sign_in(identity, citizen, totp_code=code_at(seed, clock.now))  # no password presented
    assert "identity.Citizen.PasswordRehashed" not in topics(node, citizen)

    sign_in(identity, citizen, password=PASSWORD)
    assert topics(node, citizen)[-2:] == [
        "identity.Citizen.AuthenticationSucceeded",
        "identity.Citizen.PasswordRehashed",
    ]
    phc = stored_password_hash(identity, citizen)
    assert phc.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
    assert not passwords.needs_rehash(phc)
    stored = b"".join(e.state for e in node.store.recorder.select_events(UUID(citizen)))
    assert PASSWORD.encode() not in stored

    before = event_count(node, citizen)
    assert sign_in(identity, citizen, password=PASSWORD).amr == ["pwd"]  # the new hash matches
    assert event_count(node, citizen) == before + 1  # and is not hashed again
    monkeypatch.setattr(passwords, "ITERATIONS", 2)
    assert passwords.verify_password(PASSWORD, phc)


def test_password_and_totp_reach_aal2_and_a_code_is_accepted_once(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    seed = with_totp(identity, clock, citizen)
    clock.advance(seconds=60)
    code = code_at(seed, clock.now)
    assert sign_in(identity, citizen, password=PASSWORD, totp_code=code).acr == "AAL2"
    with pytest.raises(AuthenticationFailedError, match="totp_replayed"):
        sign_in(identity, citizen, password=PASSWORD, totp_code=code)
    with pytest.raises(AuthenticationFailedError, match="totp_mismatch"):
        sign_in(identity, citizen, totp_code="000000" if code != "000000" else "111111")


def test_racing_requests_with_one_code_let_exactly_one_through(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    seed = with_totp(identity, clock, citizen)
    clock.advance(seconds=60)
    code = code_at(seed, clock.now)
    challenges = [identity.begin_authentication(citizen, "portal", ACTOR) for _ in range(6)]
    before = event_count(node, citizen)
    results: list[str] = []
    barrier = threading.Barrier(len(challenges))

    def race(attempt_id: str) -> None:
        barrier.wait()
        try:
            identity.complete_authentication(
                attempt_id, Presented(totp_code=code), ("", ""), "portal", ACTOR
            )
            results.append("ok")
        except AuthenticationFailedError as error:
            results.append(error.reason)

    threads = [threading.Thread(target=race, args=(c.attempt_id,)) for c in challenges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["TOTP_REPLAYED"] * 5 + ["ok"]
    assert event_count(node, citizen) == before + 6  # every attempt is exactly one event


def test_failures_throttle_then_lock_and_an_admin_unlocks(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    reasons = []
    for _ in range(10):
        with pytest.raises(AuthenticationFailedError) as raised:
            sign_in(identity, citizen, password="not the password")
        reasons.append(raised.value.reason)
        clock.advance(minutes=20)  # wait out any throttling delay
    assert reasons == ["PASSWORD_MISMATCH"] * 10
    with pytest.raises(AuthenticationFailedError, match="password_locked"):
        sign_in(identity, citizen, password=PASSWORD)
    assert all(identity.get_citizen(citizen).locked.values())
    identity.unlock_factor(citizen, "password", "identity checked at the counter", "service:admin")
    assert sign_in(identity, citizen, password=PASSWORD).acr == "AAL1"


def test_throttling_refuses_without_checking(identity: IdentityApplication) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    for _ in range(5):
        with pytest.raises(AuthenticationFailedError):
            sign_in(identity, citizen, password="not the password")
    with pytest.raises(AuthenticationFailedError, match="password_throttled") as raised:
        sign_in(identity, citizen, password=PASSWORD)  # even the right one must wait
    # The caller learns the kind, the factor and the wait left (the first throttle step: 1 s).
    assert raised.value.reason == "FACTOR_THROTTLED"
    assert raised.value.metadata == {"method": "password"}
    assert raised.value.retry_after == 1.0


def test_passkeys_register_authenticate_and_catch_a_cloned_counter(
    node: Node, identity: IdentityApplication
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    registration_id, options = identity.begin_passkey_registration(
        citizen, "laptop", owner(identity, citizen), ACTOR
    )
    identity.complete_passkey_registration(
        citizen, registration_id, authenticator.create(options), owner(identity, citizen), ACTOR
    )

    challenge = identity.begin_authentication(citizen, "portal", ACTOR)
    assertion = authenticator.get(challenge.passkey_options_json)
    signed_in = identity.complete_authentication(
        challenge.attempt_id, Presented(passkey_assertion_json=assertion), ("", ""), "portal", ACTOR
    )
    # User-verified and device-bound, but unattested: the key's own word, so AAL2 at most.
    assert signed_in.acr == "AAL2"
    assert signed_in.amr == ["swk", "user", "pin", "mfa"]
    assert [f.label for f in identity.get_citizen(citizen).authenticators] == ["laptop"]

    credential_id = next(iter(authenticator.credentials))
    authenticator.set_sign_count(credential_id, 0)  # a clone that lags behind
    challenge = identity.begin_authentication(citizen, "portal", ACTOR)
    with pytest.raises(AuthenticationFailedError, match="sign_count_regressed"):
        identity.complete_authentication(
            challenge.attempt_id,
            Presented(passkey_assertion_json=authenticator.get(challenge.passkey_options_json)),
            ("", ""),
            "portal",
            ACTOR,
        )

    phished = identity.begin_authentication(citizen, "portal", ACTOR)
    with pytest.raises(AuthenticationFailedError, match="passkey_origin"):
        identity.complete_authentication(
            phished.attempt_id,
            Presented(
                passkey_assertion_json=authenticator.get(
                    phished.passkey_options_json, origin="https://evil.example"
                )
            ),
            ("", ""),
            "portal",
            ACTOR,
        )


def test_recovery_codes_are_single_use_and_unlock(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    codes = identity.issue_recovery_codes(citizen, owner(identity, citizen), ACTOR)
    assert len(codes) == 10
    for _ in range(10):
        with pytest.raises(AuthenticationFailedError):
            sign_in(identity, citizen, password="nope nope nope")
        clock.advance(minutes=20)
    assert sign_in(identity, citizen, recovery_code=codes[3]).acr == "AAL1"
    with pytest.raises(AuthenticationFailedError, match="recovery_code_mismatch"):
        sign_in(identity, citizen, recovery_code=codes[3])
    assert sign_in(identity, citizen, password=PASSWORD).acr == "AAL1"  # unlocked by the code


def test_an_attempt_is_single_use_and_expires(identity: IdentityApplication, clock: Clock) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    challenge = identity.begin_authentication(citizen, "portal", ACTOR)
    identity.complete_authentication(
        challenge.attempt_id, Presented(password=PASSWORD), ("", ""), "p", ACTOR
    )
    with pytest.raises(AuthenticationFailedError, match="attempt_already_used"):
        identity.complete_authentication(
            challenge.attempt_id, Presented(password=PASSWORD), ("", ""), "p", ACTOR
        )
    late = identity.begin_authentication(citizen, "portal", ACTOR)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(AuthenticationFailedError, match="attempt_expired"):
        identity.complete_authentication(
            late.attempt_id, Presented(password=PASSWORD), ("", ""), "p", ACTOR
        )


def test_tokens_expire_are_revoked_and_cannot_be_forged(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    first = sign_in(identity, citizen, password=PASSWORD)
    second = sign_in(identity, citizen, password=PASSWORD)
    assert {s.session_id for s in (first, second)} == {
        str(s.id) for s in identity.list_sessions(citizen, own_sessions(second.token)).sessions
    }
    identity.revoke_session(first.session_id, "lost phone", ACTOR, own_sessions(second.token))
    assert identity.introspect(first.token).reason == "revoked"
    header, payload, signature = second.token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert not identity.introspect(forged).active
    clock.advance(minutes=31)  # idle limit
    assert identity.introspect(second.token).reason == "expired"


def test_erasure_destroys_the_data_key_and_payloads(
    node: Node, identity: IdentityApplication
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    identity.erase_citizen(citizen, "GDPR art. 17 request", "service:admin")
    assert identity.get_citizen(citizen).erased
    # The identifier no longer leads to the erased citizen; the person may register again.
    with pytest.raises(NotFound):
        identity.find_citizen("19850412-1234")
    again = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    assert again != citizen
    assert identity.find_citizen("19850412-1234").citizen_id == again
    duplicate = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR)
    assert (duplicate.citizen_id, duplicate.already_registered) == (again, True)
    identity.erase_citizen(again, "GDPR art. 17 request", "service:admin")
    third = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    assert identity.find_citizen("19850412-1234").citizen_id == third
    rows = node.store.recorder.select_events(UUID(citizen))
    assert [r.topic for r in rows][-1] == "identity.Citizen.Erased"
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    published = [e for e in node.audit.entries(0) if b'"stream":"' + citizen.encode() in e.entry]
    assert [e.payload is None for e in published] == [True] * (len(rows) - 1) + [False]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's write lock
def test_erasure_waits_for_another_connection_writing(
    node: Node, identity: IdentityApplication, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the `Erased` entry is stored, another connection writes while the payloads are
    erased (on SQLite a view's own pool: the timeline scrubbing this very citizen, its WAL
    checkpoint). The erasure waits for the write lock, as every write does, rather than being
    refused at once with "database is locked" (answered UNAVAILABLE, after the erasure was
    already stored)."""
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    other = sqlite3.connect(
        str(node.store.database.sqlite_path), isolation_level=None, check_same_thread=False
    )
    erase_payloads = node.store.erase_payloads

    def while_another_writes(stream: UUID, below_version: int, topic: str | None = None) -> int:
        if other.in_transaction is False and below_version > 1:
            other.execute("BEGIN IMMEDIATE")
            other.execute("CREATE TABLE IF NOT EXISTS elsewhere (v TEXT)")
            other.execute("INSERT INTO elsewhere VALUES ('a view')")
            threading.Timer(0.3, other.commit).start()
        return erase_payloads(stream, below_version, topic)

    monkeypatch.setattr(node.store, "erase_payloads", while_another_writes)
    try:
        identity.erase_citizen(citizen, "GDPR art. 17 request", "service:admin")
    finally:
        time.sleep(0.5)
        other.close()
    assert identity.get_citizen(citizen).erased
    rows = node.store.recorder.select_events(UUID(citizen))
    assert [r.topic for r in rows][-1] == "identity.Citizen.Erased"


def test_a_second_totp_authenticator_does_not_extend_guessing(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    with_totp(identity, clock, citizen)
    with_totp(identity, clock, citizen)
    for _ in range(10):
        with pytest.raises(AuthenticationFailedError, match="totp_mismatch"):
            sign_in(identity, citizen, totp_code="not-a-code")
        clock.advance(minutes=20)
    assert sorted(identity.get_citizen(citizen).locked.values()) == [True, True]
    with pytest.raises(AuthenticationFailedError, match="totp_locked"):
        sign_in(identity, citizen, totp_code="123456")
