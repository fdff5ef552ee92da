"""The citizen timeline, fed from the log, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from civitas.node import Node
from identity.citizen import Presented
from ledger.errors import NotAllowed, NotFound, Unavailable
from tests.identity.conftest import person

ACTOR = "service:tax-portal"
PASSWORD = "a long and unusual passphrase"


def rebuild(node: Node) -> None:
    timeline = next(p for p in node.projections() if p.name == "timeline")
    assert timeline.rebuild(node.timeline_view.reset, node.store.recorder.max_notification_id(), 30)


def signed_in_citizen(node: Node, national_identifier: str) -> str:
    identity = node.identity
    citizen = identity.register_citizen(person(national_identifier), "IAL2", "", ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, ACTOR)
    challenge = identity.begin_authentication(citizen, "tax-portal", ACTOR)
    identity.complete_authentication(
        challenge.attempt_id,
        Presented(password=PASSWORD),
        ("192.0.2.1", "test"),
        "tax-portal",
        ACTOR,
    )
    return citizen


def test_timeline_shows_a_citizens_own_events_in_ledger_order(node: Node) -> None:
    alice = signed_in_citizen(node, "A-1")
    bob = signed_in_citizen(node, "B-2")
    node.identity.read_citizen(alice, "tax", "annual assessment", ACTOR)
    rebuild(node)
    items = node.timeline_view.items(alice)
    assert [i.kind for i in items] == [
        "identity",
        "authenticator",
        "sign_in",
        "session",
        "data_access",
    ]
    assert [i.position for i in items] == sorted(i.position for i in items)
    sign_in = items[2].summary
    assert (sign_in["outcome"], sign_in["methods"], sign_in["relying_service"]) == (
        "success",
        ["password"],
        "tax-portal",
    )
    # What may name or locate the person is sealed in the rows, opened for the citizen alone.
    stored = str([i.summary for i in items])
    for personal in ("Tamm", "annual assessment", "192.0.2.1"):
        assert personal not in stored
    assert items[4].summary["purpose"].startswith("v1.")
    shown = node.history.list(alice, [], None, None, 10, "").items
    assert shown[4].summary == {
        "agency": "tax",
        "purpose": "annual assessment",
        "resource": "personal data",
    }
    assert (shown[2].summary["client_address"], shown[2].summary["user_agent"]) == (
        "192.0.2.1",
        "test",
    )
    assert all(i.citizen_id == alice for i in items)
    assert {i.stream for i in node.timeline_view.items(bob)}.isdisjoint({alice})


def test_replaying_from_zero_gives_the_same_rows(node: Node) -> None:
    alice = signed_in_citizen(node, "A-1")
    bob = signed_in_citizen(node, "B-2")
    rebuild(node)
    bobs = node.timeline_view.items(bob)
    assert len(node.timeline_view.items(alice)) == 4
    node.identity.erase_citizen(alice, "GDPR art. 17", "service:admin")
    node.identity.read_citizen(alice, "tax", "after the erasure", ACTOR)
    # Following the log: the erasure scrubs every row of hers but its own, and nothing later
    # (her session's revocation, the read) is shown.
    timeline = next(p for p in node.projections() if p.name == "timeline")
    assert timeline.catch_up(node.store.recorder.max_notification_id(), 30)
    scrubbed = node.timeline_view.items(alice)
    assert [(i.type, i.summary) for i in scrubbed] == [
        ("identity.Citizen.Erased", {"change": "erased"})
    ]
    # Replaying from zero (her earlier payloads are erased by now) ends the same way.
    rebuild(node)
    assert node.timeline_view.items(alice) == scrubbed
    assert node.timeline_view.items(bob) == bobs  # and nobody else's rows change


def test_a_receipt_is_only_given_for_ones_own_event(node: Node) -> None:
    alice = signed_in_citizen(node, "A-1")
    bob = signed_in_citizen(node, "B-2")
    rebuild(node)
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    item = node.timeline_view.items(alice)[2]
    receipt = node.history.receipt(alice, item.stream, item.version)
    assert receipt["index"] is not None
    with pytest.raises(NotAllowed):
        node.history.receipt(bob, item.stream, item.version)
    with pytest.raises(NotFound):
        node.history.receipt(alice, item.stream, 999)


def test_an_event_not_yet_in_a_checkpoint_is_unavailable_for_a_moment(node: Node) -> None:
    """The history shows an event before a checkpoint covers it: its receipt is refused as
    UNAVAILABLE with a reason and a delay, which relying services retry on."""
    alice = signed_in_citizen(node, "A-1")
    rebuild(node)
    item = node.timeline_view.items(alice)[-1]
    with pytest.raises(Unavailable) as raised:
        node.history.receipt(alice, item.stream, item.version)
    assert raised.value.reason == "NOT_YET_SEQUENCED"
    # The sequencer's interval: asking again after that long finds the entry covered.
    assert raised.value.retry_after == node.config.checkpoint_interval
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())
    assert node.history.receipt(alice, item.stream, item.version)["entry"]
