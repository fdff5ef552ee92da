"""ListSessions: active sessions only, newest first, page by page, whatever the history."""

from __future__ import annotations

import pytest

from identity.application import IdentityApplication
from identity.authority import SessionsAsker
from identity.citizen import RECENT_SESSIONS
from ledger.errors import InvalidInput
from tests.identity.conftest import ACTOR, REGISTRAR, Clock, code_at, person
from tests.identity.test_application import sign_in, with_totp

ADMIN = SessionsAsker(admin=True)  # the paging is the same for every asker


def test_pages_hold_active_sessions_newest_first(
    identity: IdentityApplication, clock: Clock
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    seed = with_totp(identity, clock, citizen)
    opened = []
    for _ in range(5):
        clock.advance(seconds=31)
        opened.append(sign_in(identity, citizen, totp_code=code_at(seed, clock.now)).session_id)
    identity.revoke_session(opened[3], "lost phone", ACTOR, ADMIN)
    first = identity.list_sessions(citizen, ADMIN, page_size=2)
    assert [str(s.id) for s in first.sessions] == [opened[4], opened[2]]
    second = identity.list_sessions(citizen, ADMIN, page_size=2, page_token=first.next_page_token)
    assert [str(s.id) for s in second.sessions] == [opened[1], opened[0]]
    assert second.next_page_token == ""
    clock.advance(minutes=31)  # every session idle now
    assert identity.list_sessions(citizen, ADMIN).sessions == []


def test_only_recent_sign_ins_are_looked_at(identity: IdentityApplication, clock: Clock) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    seed = with_totp(identity, clock, citizen)
    opened = []
    for _ in range(RECENT_SESSIONS + 3):
        clock.advance(seconds=31)
        opened.append(sign_in(identity, citizen, totp_code=code_at(seed, clock.now)).session_id)
    recent = identity._citizen(citizen).session_ids
    assert len(recent) == RECENT_SESSIONS
    assert opened[3:] == recent  # the oldest three dropped from the citizen's state
    page = identity.list_sessions(citizen, ADMIN, page_size=64)
    listed = [str(s.id) for s in page.sessions]
    assert listed
    assert set(listed) <= set(recent)
    assert listed[0] == opened[-1]


@pytest.mark.parametrize(
    ("size", "token", "field"),
    [(65, "", "page_size"), (0, "not-a-session", "page_token")],
)
def test_bad_page_requests_are_refused(
    identity: IdentityApplication, size: int, token: str, field: str
) -> None:
    citizen = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    with pytest.raises(InvalidInput) as refused:
        identity.list_sessions(citizen, ADMIN, page_size=size, page_token=token)
    assert [v.field for v in refused.value.violations] == [field]
