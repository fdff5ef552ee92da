"""A stream's caller checked again: before every item, and while idle once a second; a watch
ends when its lifetime is over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from civitas.api.rechecked_stream import (
    RECHECK_SECONDS,
    StreamCaller,
    WatchContext,
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
    """The part of a grpc.aio context a watch asks: has the call ended?"""

    def __init__(self) -> None:
        self.ended = False
        self.stopping = False

    def done(self) -> bool:
        return self.ended

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


async def first_items(stream: AsyncIterator[int], count: int) -> list[int]:
    return [await anext(stream) for _ in range(count)]


def test_every_item_is_sent_only_after_a_check() -> None:
    credentials = Credentials()
    caller = StreamCaller(credentials.check, ALICE, Clock())

    async def run() -> None:
        for items in (iter([1, 2, 3]), _async_items([1, 2, 3])):  # the audit streams, the watches
            credentials.revoked, credentials.checks = False, 0
            stream = rechecked(items, caller)
            assert await first_items(stream, 2) == [1, 2]
            credentials.revoked = True  # between two items
            with pytest.raises(Unauthenticated):
                await anext(stream)
            assert credentials.checks == 3

    asyncio.run(run())


async def _async_items(items: list[int]) -> AsyncIterator[int]:
    for item in items:
        yield item


def watch_context(credentials: Credentials, clock: Clock, real: Context) -> Any:
    caller = StreamCaller(credentials.check, ALICE, clock)
    return WatchContext(cast(Any, real), caller, clock.now + 60, lambda: real.stopping, clock=clock)


def test_an_idle_stream_is_checked_once_a_check_is_due() -> None:
    credentials, clock, real = Credentials(), Clock(), Context()
    context = watch_context(credentials, clock, real)

    async def run() -> None:
        assert await context.active()
        assert credentials.checks == 0  # not due yet: waking stays cheap
        clock.now += RECHECK_SECONDS
        assert await context.active()
        assert credentials.checks == 1
        credentials.revoked = True
        clock.now += RECHECK_SECONDS / 2
        assert await context.active()  # checked half a second ago
        clock.now += RECHECK_SECONDS / 2
        with pytest.raises(Unauthenticated):
            await context.active()

    asyncio.run(run())
    assert context.peer() == "ipv4:127.0.0.1:1"  # the rest is the real context's


def test_a_gone_client_is_not_checked() -> None:
    credentials, clock, real = Credentials(), Clock(), Context()
    context = watch_context(credentials, clock, real)
    real.ended = True
    clock.now += 10 * RECHECK_SECONDS
    assert not asyncio.run(context.active())
    assert credentials.checks == 0


def test_a_watch_ends_when_its_lifetime_is_over() -> None:
    credentials, clock, real = Credentials(), Clock(), Context()
    context = watch_context(credentials, clock, real)
    clock.now += 59.9
    assert not context.expired
    clock.now += 0.1
    assert context.expired
    assert not asyncio.run(context.active())


def test_a_watch_ends_when_the_server_stops() -> None:
    credentials, clock, real = Credentials(), Clock(), Context()
    context = watch_context(credentials, clock, real)
    real.stopping = True
    assert context.expired
    assert not asyncio.run(context.active())


def test_another_caller_on_the_same_credentials_is_refused() -> None:
    credentials = Credentials()
    caller = StreamCaller(credentials.check, ALICE, Clock())
    credentials.caller = Caller("alice", "admin")  # the account's role changed
    with pytest.raises(NotAllowed):
        caller.recheck()
