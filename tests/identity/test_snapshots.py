"""Signed snapshots of citizens: as trustworthy as their events, and never part of the ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate

from civitas.node import Node
from identity.application import IdentityApplication, IdentitySettings
from identity.citizen import Citizen
from identity.personal_data import NationalIdentifierIndex
from identity.refusals import AuthenticationFailedError
from identity.session import Session
from identity.tokens import TokenSigner
from ledger.data_access import DataAccessLog
from ledger.secret_file import SecretFile
from ledger.snapshots import SnapshotStore
from ledger.sql_dialect import dialect_of
from ledger.store import SNAPSHOTS_TABLES
from tests.identity.conftest import ACTOR, REGISTRAR, RP, Clock, code_at, person
from tests.identity.test_application import sign_in, with_totp

EVERY = 5  # registration (with its activation code), TOTP enrolment, one attempt
# eventsourcing stamps an aggregate in memory with the wall clock, a loaded one with its
# entries' `at`; Civitas reads neither.
WALL_CLOCK = {"_created_on", "_modified_on"}


# A confirmed password factor, in the form the snapshot stores a citizen's factors.
INSIDER_FACTOR = (
    b'"insider":{"_type_":"dataclass:identity.citizen:Factor","_data_":{'
    b'"authenticator_id":"insider","method":"password","label":"password","confirmed":true,'
    b'"secret":"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA","details":{},"failures":0,'
    b'"last_failure_at":null}}'
)


@pytest.fixture(autouse=True)
def snapshot_often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SnapshotStore, "EVERY", EVERY)


@pytest.fixture
def fresh_identity(node: Node, clock: Clock) -> Callable[[], IdentityApplication]:
    """Another process's identity application on the same store: nothing of it cached."""

    def make() -> IdentityApplication:
        keys = node.config.keys_dir
        return IdentityApplication(
            node.store,
            data_keys=node.data_keys,
            national_ids=NationalIdentifierIndex(SecretFile(keys / "lookup.key")),
            token_signer=TokenSigner("t1", node.keys.named_private_key("token-t1")),
            settings=IdentitySettings(relying_party=RP),
            clock=clock,
            data_access=DataAccessLog(node.store),
        )

    return make


def replayed(identity: IdentityApplication, citizen_id: str) -> dict[str, Any]:
    """The citizen as its signed events alone make it."""
    events = identity.events.get(UUID(citizen_id))
    citizen = project_aggregate(None, events)
    assert citizen is not None
    return state_of(citizen)


def state_of(citizen: object) -> dict[str, Any]:
    return {k: v for k, v in vars(citizen).items() if k not in WALL_CLOCK}


def loaded(fresh: IdentityApplication, citizen_id: str) -> dict[str, Any]:
    """The citizen as a process that has not seen it yet loads it: snapshot first."""
    citizen: Citizen = fresh.repository.get(UUID(citizen_id))
    return state_of(citizen)


def snapshot_rows(node: Node) -> list[tuple[str, int, bytes]]:
    dialect = dialect_of(node.store.datastore)
    table = SNAPSHOTS_TABLES[dialect.name]
    with node.store.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            dialect.sql(
                f"SELECT originator_id, originator_version, state FROM {{{table}}} "
                "ORDER BY originator_version"
            )
        )
        return [
            (str(row["originator_id"]), row["originator_version"], bytes(row["state"]))
            for row in cursor.fetchall()
        ]


def rewrite_snapshot(node: Node, citizen_id: str, version: int, state: bytes) -> None:
    """What an insider with write access to the database does."""
    dialect = dialect_of(node.store.datastore)
    table = SNAPSHOTS_TABLES[dialect.name]
    with node.store.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            dialect.sql(
                f"UPDATE {{{table}}} SET state = ? "
                "WHERE originator_id = ? AND originator_version = ?"
            ),
            (state, dialect.param(UUID(citizen_id)), version),
        )
    assert (UUID(citizen_id).hex, version, state) in [
        (UUID(stream).hex, at, frame) for stream, at, frame in snapshot_rows(node)
    ]


def locked_out_citizen(identity: IdentityApplication, clock: Clock) -> str:
    """A citizen whose latest snapshot records a failed TOTP attempt."""
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    with_totp(identity, clock, citizen)  # versions 3 and 4
    with pytest.raises(AuthenticationFailedError):
        sign_in(identity, citizen, totp_code="000000")  # version 5: a snapshot
    return citizen


def test_a_snapshot_rebuilds_the_citizen_its_events_make(
    identity: IdentityApplication, clock: Clock, fresh_identity: Callable[[], IdentityApplication]
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    seed = with_totp(identity, clock, citizen)
    for _ in range(10):
        clock.advance(seconds=31)
        sign_in(identity, citizen, totp_code=code_at(seed, clock.now))
    fresh = fresh_identity()
    snapshots = fresh.snapshots
    assert snapshots is not None
    (latest,) = snapshots.get(UUID(citizen), desc=True, limit=1)
    newest = len(list(fresh.events.get(UUID(citizen))))
    assert latest.originator_version == newest - newest % EVERY  # one every EVERY events
    assert loaded(fresh, citizen) == replayed(fresh, citizen)
    # Loading reads the snapshot and the few events after it, not the citizen's history.
    after = list(fresh.events.get(UUID(citizen), gt=latest.originator_version))
    assert len(after) == newest - latest.originator_version < EVERY


@pytest.mark.parametrize(
    "edit",
    [
        # Reset the lockout counter the failed attempt set.
        lambda frame: frame.replace(b'"failures":1', b'"failures":0'),
        # Disable the citizen's own factor (the same edit confirms one never confirmed).
        lambda frame: frame.replace(b'"confirmed":true', b'"confirmed":false'),
        # Add a factor whose secret the insider knows.
        lambda frame: frame.replace(b'"factors":{', b'"factors":{' + INSIDER_FACTOR + b","),
        # Cut the signature off; or nothing but the payload.
        lambda frame: frame[:-1],
        lambda frame: frame[frame.index(b"{") :],
    ],
    ids=["reset-lockout", "flip-factor", "add-factor", "truncated", "unsigned"],
)
def test_an_edited_snapshot_is_never_believed(
    node: Node,
    identity: IdentityApplication,
    clock: Clock,
    fresh_identity: Callable[[], IdentityApplication],
    edit: Callable[[bytes], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    citizen = locked_out_citizen(identity, clock)
    ((stream, version, frame),) = snapshot_rows(node)
    assert (UUID(stream), version) == (UUID(citizen), EVERY)
    edited = edit(frame)
    assert edited != frame
    rewrite_snapshot(node, citizen, version, edited)

    fresh = fresh_identity()
    state = loaded(fresh, citizen)
    assert state == replayed(fresh, citizen)
    assert "insider" not in state["factors"]
    (factor,) = (f for f in state["factors"].values() if f.method == "totp")
    assert factor.failures == 1
    assert factor.confirmed
    assert "snapshot passed over" in caplog.text


def test_a_snapshot_moved_to_another_citizen_is_refused(
    node: Node,
    identity: IdentityApplication,
    clock: Clock,
    fresh_identity: Callable[[], IdentityApplication],
) -> None:
    victim = locked_out_citizen(identity, clock)
    other = identity.register_citizen(
        person("19900101-0000"), "IAL2", "", REGISTRAR, ACTOR
    ).citizen_id
    seed = with_totp(identity, clock, other)
    clock.advance(seconds=31)
    sign_in(identity, other, totp_code=code_at(seed, clock.now))  # version 5: no failures
    rows = {UUID(stream): frame for stream, _, frame in snapshot_rows(node)}
    # The other citizen's snapshot is validly signed, but for another stream.
    rewrite_snapshot(node, victim, EVERY, rows[UUID(other)])

    fresh = fresh_identity()
    assert loaded(fresh, victim) == replayed(fresh, victim)
    assert loaded(fresh, victim)["lookup_hash"] != loaded(fresh, other)["lookup_hash"]


def test_snapshots_stay_out_of_the_ledger_and_go_with_erasure(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    citizen = locked_out_citizen(identity, clock)
    assert len(snapshot_rows(node)) == 1
    recorder = node.store.recorder
    last = recorder.max_notification_id()
    assert last is not None
    entries = recorder.select_notifications(start=1, limit=last + 10)
    assert len(entries) == last  # every notification is an event: no snapshot among them
    assert all(not entry.topic.startswith("eventsourcing") for entry in entries)
    for entry in entries:
        node.store.mapper.open(entry)  # each a signed ledger entry

    identity.erase_citizen(citizen, "art. 17 request", ACTOR)
    assert snapshot_rows(node) == []
    assert identity.get_citizen(citizen).erased


def test_a_session_refreshed_many_times_loads_from_its_snapshot(
    identity: IdentityApplication, clock: Clock, fresh_identity: Callable[[], IdentityApplication]
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    seed = with_totp(identity, clock, citizen)
    clock.advance(seconds=31)
    signed_in = sign_in(identity, citizen, totp_code=code_at(seed, clock.now))
    for _ in range(2 * EVERY + 1):
        clock.advance(minutes=1)
        signed_in = identity.refresh_session(signed_in.token, ("", ""), "test-portal", ACTOR)
    fresh = fresh_identity()
    session_id = UUID(signed_in.session_id)
    snapshots = fresh.snapshots
    assert snapshots is not None
    (latest,) = snapshots.get(session_id, desc=True, limit=1)
    assert latest.originator_version == 2 * EVERY
    loaded_session: Session = fresh.repository.get(session_id)
    replayed_session = project_aggregate(None, fresh.events.get(session_id))
    assert state_of(loaded_session) == state_of(replayed_session)
    assert fresh.introspect(signed_in.token).active


def test_a_cached_citizen_sees_what_another_replica_saved(
    identity: IdentityApplication, clock: Clock, fresh_identity: Callable[[], IdentityApplication]
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    with_totp(identity, clock, citizen)
    replica = fresh_identity()
    assert replica.get_citizen(citizen).locked  # now cached by the replica
    with pytest.raises(AuthenticationFailedError):
        sign_in(identity, citizen, totp_code="000000")  # saved by the first application
    cached: Citizen = replica.repository.get(UUID(citizen))
    (factor,) = cached.factors.values()
    assert (cached.version, factor.failures) == (5, 1)
    cached.factors.clear()  # a command's copy: the cache keeps the state as stored
    again: Citizen = replica.repository.get(UUID(citizen))
    assert len(again.factors) == 1
