"""Presence keys (identity/key_presence.py): recorded at registration, proved per challenge."""

from __future__ import annotations

import base64
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from civitas.node import Node
from identity.application import IdentityApplication
from identity.citizen import Citizen
from identity.key_presence import DataKeyPresence, Position, Proof, presence_key, presence_message
from ledger.errors import InvalidInput, Unavailable
from tests.identity.conftest import ACTOR, person


def test_the_presence_key_is_the_data_keys_and_the_citizens() -> None:
    citizen = uuid4()
    key = presence_key(b"k" * 32, citizen).private_bytes_raw()
    assert presence_key(b"k" * 32, citizen).private_bytes_raw() == key
    assert presence_key(b"j" * 32, citizen).private_bytes_raw() != key
    assert presence_key(b"k" * 32, uuid4()).private_bytes_raw() != key


def test_registration_records_the_presence_key_and_a_held_key_is_proved(
    node: Node, identity: IdentityApplication
) -> None:
    citizen_id = identity.register_citizen(person(), "IAL1", "", ACTOR).citizen_id
    citizen: Citizen = identity.repository.get(UUID(citizen_id))
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(citizen.key_presence))
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    challenge = b"c" * 32
    presence = DataKeyPresence(identity._data_keys)
    position, proof = presence.prove(challenge)
    assert position == Position(tree_size=2)  # the Registered and Claimed entries
    assert isinstance(proof, Proof)
    assert proof.citizen_id == citizen.id
    public.verify(proof.signature, presence_message(challenge, citizen.id))

    identity.erase_citizen(citizen_id, "citizen's request", ACTOR)
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    # Erased and the claim's Released: no key, none proved
    assert list(presence.prove(challenge)) == [Position(tree_size=4)]


def test_a_registered_event_written_before_presence_keys_still_loads(
    node: Node, identity: IdentityApplication
) -> None:
    citizen = Citizen(uuid4(), {}, "lookup", "IAL1", "", actor=ACTOR)
    pending = citizen.collect_events()
    del pending[0].__dict__["key_presence"]  # as the event was stored before issue 13
    identity.events.put(pending)
    assert identity.repository.get(citizen.id).key_presence == ""


def test_the_challenge_is_checked_and_an_unsequenced_log_is_unavailable(
    identity: IdentityApplication,
) -> None:
    presence = DataKeyPresence(identity._data_keys, sequencer_wait=0)
    with pytest.raises(InvalidInput):
        next(presence.prove(b"short"))
    identity.register_citizen(person(), "IAL1", "", ACTOR)
    with pytest.raises(Unavailable):  # nothing sequences in this fixture
        next(presence.prove(b"c" * 32))
