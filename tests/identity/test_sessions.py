"""Session refresh with the injected clock: token rotation, idle and absolute limits, reuse
detection, refusals that write nothing, and a model of the deadlines as a hypothesis property."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import IntegrityError
from hypothesis import given
from hypothesis import strategies as st

from civitas.node import Node
from identity.application import IdentityApplication, SignedIn
from identity.authority import SessionsAsker
from identity.citizen import Presented
from identity.session import REUSE_REASON, Refresh, Session, SessionRefused
from identity.tokens import TokenSigner
from ledger.errors import Aborted, InvalidInput, Unauthenticated
from tests.identity import conftest
from tests.identity.conftest import ACTOR, REGISTRAR, Clock, owner, person

PASSWORD = "correct horse battery staple"
CLIENT = ("203.0.113.7", "pytest")
IDLE = timedelta(minutes=30)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def signed_in(identity: IdentityApplication) -> SignedIn:
    citizen = identity.register_citizen(
        person(f"S-{uuid.uuid4().hex[:8]}"), "IAL2", "", REGISTRAR, ACTOR
    ).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    challenge = identity.begin_authentication(citizen, "portal", ACTOR)
    return identity.complete_authentication(
        challenge.attempt_id, Presented(password=PASSWORD), CLIENT, "portal", ACTOR
    )


def refresh(identity: IdentityApplication, token: str) -> SignedIn:
    return identity.refresh_session(token, CLIENT, "portal", ACTOR)


def refused(identity: IdentityApplication, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        refresh(identity, token)
    return raised.value.reason


def session_events(node: Node, session_id: str) -> list[str]:
    return [e.topic for e in node.store.recorder.select_events(UUID(session_id))]


def written(node: Node) -> int:
    return node.store.recorder.max_notification_id() or 0


def test_a_refresh_rotates_the_token_and_the_old_one_stops_working(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    first = signed_in(identity)
    clock.advance(minutes=10)
    second = refresh(identity, first.token)
    old, new = claims_of(first.token), claims_of(second.token)
    assert new["jti"] != old["jti"]
    assert (new["sid"], new["sub"], new["acr"], new["amr"]) == (
        old["sid"],
        old["sub"],
        old["acr"],
        old["amr"],
    )
    assert (second.session_id, second.acr, second.amr) == (first.session_id, "AAL1", ["pwd"])
    assert (new["iss"], new["aud"]) == ("civitas", "civitas")
    # exp is now + the idle window, and the result says exactly what the token says.
    assert second.expires_at == clock.now + IDLE
    assert new["exp"] == int(second.expires_at.timestamp())
    assert new["iat"] == int(clock.now.timestamp())

    assert identity.introspect(second.token).active
    stale = identity.introspect(first.token)
    assert (stale.active, stale.reason) == (False, "rotated")
    assert identity.citizen_caller(first.token) is None  # citizen calls: UNAUTHENTICATED
    assert identity.citizen_caller(second.token) is not None
    assert session_events(node, first.session_id) == [
        "identity.Session.Started",
        "identity.Session.Refreshed",
    ]
    refreshed = node.store.recorder.select_events(UUID(first.session_id))[-1]
    assert b'"relying_service":"portal"' in refreshed.state
    assert new["jti"].encode() in refreshed.state  # the session remembers the current token


def test_a_refresh_is_activity_and_moves_the_idle_deadline(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    token = signed_in(identity).token
    for _ in range(4):  # 4 x 25 minutes: far past one idle window, active all along
        clock.advance(minutes=25)
        token = refresh(identity, token).token
    clock.advance(minutes=29, seconds=59)
    assert identity.introspect(token).active
    clock.advance(seconds=1)
    assert identity.introspect(token).reason in ("idle", "expired")  # the JWT's exp came too
    before = written(node)
    assert refused(identity, token) == "SESSION_IDLE"
    assert written(node) == before


def test_no_refresh_goes_past_the_absolute_end(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    short = IdentityApplication(
        node.store,
        data_keys=identity._data_keys,
        national_ids=identity._national_ids,
        token_signer=identity._token_signer,
        settings=replace(identity.settings, session_absolute=timedelta(minutes=50)),
        clock=clock,
        data_access=identity._data_access,
    )
    started = clock.now
    first = signed_in(short)
    assert first.expires_at == started + IDLE
    clock.advance(minutes=25)
    second = refresh(short, first.token)
    assert second.expires_at == started + timedelta(minutes=50)  # not now + 30 minutes
    assert claims_of(second.token)["exp"] == int((started + timedelta(minutes=50)).timestamp())
    clock.advance(minutes=25)
    before = written(node)
    assert refused(short, second.token) == "SESSION_EXPIRED"
    assert short.introspect(second.token).active is False
    assert written(node) == before


def test_a_replaced_token_presented_again_revokes_the_session(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    first = signed_in(identity)
    second = refresh(identity, first.token)
    clock.advance(minutes=1)
    with pytest.raises(SessionRefused) as raised:
        refresh(identity, first.token)  # the thief, or the client, with the old copy
    assert raised.value.reason == "TOKEN_ROTATED"
    session: Session = node.identity.repository.get(UUID(first.session_id))
    assert (session.revoked, session.revoked_reason) == (True, REUSE_REASON)
    assert session_events(node, first.session_id)[-1] == "identity.Session.Revoked"
    # Both copies are dead now: the newest one too.
    assert identity.introspect(second.token).reason == "revoked"
    before = written(node)
    assert refused(identity, second.token) == "SESSION_REVOKED"
    assert refused(identity, first.token) == "SESSION_REVOKED"  # revoked once, not again
    assert written(node) == before


def test_revoked_sessions_and_erased_citizens_are_refused_and_nothing_is_written(
    node: Node, identity: IdentityApplication
) -> None:
    revoked = signed_in(identity)
    identity.revoke_session(revoked.session_id, "logout", ACTOR, SessionsAsker(admin=True))
    erased = signed_in(identity)
    identity.erase_citizen(claims_of(erased.token)["sub"], "GDPR art. 17", "admin:test")
    before = written(node)
    assert refused(identity, revoked.token) == "SESSION_REVOKED"
    assert refused(identity, erased.token) == "CITIZEN_ERASED"
    assert written(node) == before


def test_tokens_not_issued_for_this_deployment_are_token_invalid(
    node: Node, identity: IdentityApplication, clock: Clock
) -> None:
    good = signed_in(identity)
    claims = claims_of(good.token)
    stranger = TokenSigner("t1", Ed25519PrivateKey.generate())  # same kid, another key
    other_issuer = IdentityApplication(
        node.store,
        data_keys=identity._data_keys,
        national_ids=identity._national_ids,
        token_signer=identity._token_signer,
        settings=replace(identity.settings, token_issuer="https://id.elsewhere.test"),
        clock=clock,
        data_access=identity._data_access,
    )
    foreign = [
        stranger.sign(claims),
        identity._token_signer.sign({**claims, "aud": "another-portal"}),
        identity._token_signer.sign({**claims, "sid": str(uuid.uuid4())}),
        identity._token_signer.sign({**claims, "sid": str(UUID(claims["sub"]))}),  # not a session
        identity._token_signer.sign({**claims, "sub": str(uuid.uuid4())}),
        good.token[:-4] + "AAAA",
        "a.b.c",
    ]
    before = written(node)
    for token in foreign:
        assert refused(identity, token) == "INVALID_TOKEN", token
    assert refused(other_issuer, good.token) == "INVALID_TOKEN"
    assert other_issuer.introspect(good.token).reason == "issuer"
    for bad in ("", "x" * 8193):
        with pytest.raises(InvalidInput) as raised:
            refresh(identity, bad)
        assert [v.field for v in raised.value.violations] == ["token"]
    assert written(node) == before
    assert identity.introspect(good.token).active  # none of it touched the real session


def test_a_refresh_racing_a_revocation_is_decided_again_and_refused(
    node: Node, identity: IdentityApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = signed_in(identity)
    save = identity.save
    saves: list[int] = []

    def revoked_meanwhile(*args: Any, **kwargs: Any) -> Any:
        saves.append(1)
        if len(saves) == 1:  # another replica revokes the session between our load and save
            node.identity.revoke_session(
                first.session_id, "logout", ACTOR, SessionsAsker(admin=True)
            )
        return save(*args, **kwargs)

    monkeypatch.setattr(identity, "save", revoked_meanwhile)
    assert refused(identity, first.token) == "SESSION_REVOKED"
    assert len(saves) == 1  # the retry saw the revocation and wrote nothing
    assert session_events(node, first.session_id) == [
        "identity.Session.Started",
        "identity.Session.Revoked",
    ]


def test_a_refresh_that_keeps_losing_races_is_aborted(
    identity: IdentityApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = signed_in(identity)

    def always_conflicts(*args: Any, **kwargs: Any) -> Any:
        raise IntegrityError("another request saved first")

    monkeypatch.setattr(identity, "save", always_conflicts)
    with pytest.raises(Aborted):
        refresh(identity, first.token)


# --- the deadlines, as a model ------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONTEXT = Refresh("portal", "", "")
MODEL_END = timedelta(hours=2)  # short, so that a few steps reach it


def new_session() -> Session:
    return conftest.new_session(T0, T0 + MODEL_END, T0 + IDLE, "jti-0")


# Steps just inside the idle window reach the absolute end within a few refreshes.
GAPS = st.integers(0, 45 * 60) | st.integers(25 * 60, 30 * 60)


@given(gaps=st.lists(GAPS, max_size=40))
def test_any_sequence_of_refreshes_keeps_tokens_inside_both_limits(gaps: list[int]) -> None:
    """Refreshes at arbitrary clock steps: each token's exp is at most the idle window after
    the last activity and never past the absolute end; after an idle gap or the end, nothing
    continues the session."""
    session = new_session()
    now, last_activity, token_id = T0, T0, "jti-0"
    for number, gap in enumerate(gaps, start=1):
        now += timedelta(seconds=gap)
        ended = (
            "expired" if now >= T0 + MODEL_END else "idle" if now >= last_activity + IDLE else None
        )
        if ended is not None:
            with pytest.raises(SessionRefused) as raised:
                session.refresh(token_id, f"jti-{number}", now, IDLE, CONTEXT, actor=ACTOR)
            assert raised.value.refusal == ended
            assert session.refusal(token_id, now + timedelta(hours=1)) in ("idle", "expired")
            return
        session.refresh(token_id, f"jti-{number}", now, IDLE, CONTEXT, actor=ACTOR)
        last_activity, token_id = now, f"jti-{number}"
        assert session.token_id == token_id
        assert session.idle_expires_at <= T0 + MODEL_END  # ListSessions shows it
        assert session.token_expires_at() <= T0 + MODEL_END
        assert session.token_expires_at() == min(now + IDLE, T0 + MODEL_END)
        assert session.refusal(f"jti-{number - 1}", now) == "rotated"
        assert session.refusal(token_id, session.token_expires_at()) in ("idle", "expired")


def test_a_session_recorded_before_tokens_had_ids_keeps_its_tokens_until_its_end() -> None:
    # What the ledger holds for sessions started before this release: no jti, no idle deadline.
    legacy = Session(
        uuid.uuid4(), str(uuid.uuid4()), "AAL1", ["pwd"], "portal", T0, T0 + MODEL_END, actor=ACTOR
    )
    assert legacy.refusal("", T0 + MODEL_END - timedelta(seconds=1)) is None
    assert legacy.refusal("", T0 + MODEL_END) == "expired"
    legacy.refresh("", "jti-1", T0 + timedelta(hours=1), IDLE, CONTEXT, actor=ACTOR)
    assert legacy.refusal("", T0 + timedelta(hours=1)) == "rotated"
    assert legacy.token_expires_at() == T0 + timedelta(hours=1) + IDLE
