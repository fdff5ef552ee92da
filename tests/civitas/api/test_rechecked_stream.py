"""A stream's caller checked again: before every item, and while idle once a second."""

from __future__ import annotations

from typing import Any, cast

import pytest

from civitas.api.rechecked_stream import (
    RECHECK_SECONDS,
    RecheckedContext,
    StreamCaller,
    rechecked,
)
from ledger.accounts import Caller
from ledger.errors import NotAllowed, Unauthenticated

ALICE = Caller("alice", "citizen")


class Credentials:
    """What the interceptor's check finds: the caller, or a refusal once revoked."""

    def __init__(self) -> None:
        self.caller = ALICE
        self.revoked = False
        self.checks = 0

    def check(self) -> Caller:
        self.checks += 1
        if self.revoked:
            raise Unauthenticated("revoked", reason="INVALID_TOKEN")
        return self.caller


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Context:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def test_every_item_is_sent_only_after_a_check() -> None:
    credentials = Credentials()
    caller = StreamCaller(credentials.check, ALICE, Clock())
    stream = rechecked(iter([1, 2, 3]), caller)
    assert next(stream) == 1
    assert next(stream) == 2
    credentials.revoked = True  # between two items
    with pytest.raises(Unauthenticated):
        next(stream)
    assert credentials.checks == 3


def test_an_idle_stream_is_checked_once_a_check_is_due() -> None:
    credentials, clock, real = Credentials(), Clock(), Context()
    context: Any = RecheckedContext(cast(Any, real), StreamCaller(credentials.check, ALICE, clock))
    assert context.is_active()
    assert credentials.checks == 0  # not due yet: polling stays cheap
    clock.now += RECHECK_SECONDS
    assert context.is_active()
    assert credentials.checks == 1
    credentials.revoked = True
    clock.now += RECHECK_SECONDS / 2
    assert context.is_active()  # checked half a second ago
    clock.now += RECHECK_SECONDS / 2
    with pytest.raises(Unauthenticated):
        context.is_active()
    assert context.peer() == "ipv4:127.0.0.1:1"  # the rest is the real context's


def test_a_gone_client_is_not_checked() -> None:
    credentials, clock, real = Credentials(), Clock(), Context()
    context: Any = RecheckedContext(cast(Any, real), StreamCaller(credentials.check, ALICE, clock))
    real.active = False
    clock.now += 10 * RECHECK_SECONDS
    assert not context.is_active()
    assert credentials.checks == 0


def test_another_caller_on_the_same_credentials_is_refused() -> None:
    credentials = Credentials()
    caller = StreamCaller(credentials.check, ALICE, Clock())
    credentials.caller = Caller("alice", "admin")  # the account's role changed
    with pytest.raises(NotAllowed):
        caller.recheck()
