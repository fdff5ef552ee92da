"""A write wakes only the watches it concerns (issue 14: no thundering herd).

In process, on SQLite and PostgreSQL: twenty watches of one citizen (her history, or her case)
stay idle, and read nothing again, while another citizen's timeline grows (a caller who can
cause writes, say failed sign-ins against any citizen id, cannot keep the server re-reading for
everyone); a write to her own timeline still reaches every one of them at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, cast

import pytest
from eventsourcing.persistence import Tracking

from civitas.api.authorization import CURRENT_CALLER
from civitas.api.history import HistoryServicer
from civitas.api.rechecked_stream import StreamCaller, WatchContext
from civitas.api.transactions import TransactionServicer
from civitas.node import Node
from ledger.accounts import Caller
from ledger.transactions import TransactionView
from projections.timeline_view import TimelineItem
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import transaction_pb2 as tpb
from tests.projections.test_timeline import ACTOR, signed_in_citizen

WATCHES = 20
ALICE, BOB = "citizen-alice", "citizen-bob"


class Context:
    """The part of a grpc.aio context a watch asks: has the call ended?"""

    def done(self) -> bool:
        return False


class Timeline:
    """Writes rows to the timeline as its projection would, one transaction each."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.position = 1000

    def add(self, citizen: str) -> None:
        self.position += 1
        at = self._node.audit.keyring().entry_keys[0].not_before
        item = TimelineItem(
            citizen, self.position, at, "identity", "identity.Citizen.SignInFailed", "s", 1, {}
        )
        self._node.timeline_view.record([item], [], Tracking("ledger", self.position))


def counting_reads(node: Node, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each citizen's timeline is read by a watch."""
    reads: Counter[str] = Counter()
    read = node.history.items_after

    def counted(citizen: str, position: int, kinds: Sequence[str]) -> Any:
        reads[citizen] += 1
        return read(citizen, position, kinds)

    monkeypatch.setattr(node.history, "items_after", counted)
    return reads


def watch_context(citizen: str) -> WatchContext:
    caller = Caller(citizen, "citizen")
    CURRENT_CALLER.set(caller)  # this task's own context, as the interceptor sets it per call
    return WatchContext(cast(Any, Context()), StreamCaller(lambda: caller, caller), math.inf)


async def watch(servicer: HistoryServicer, citizen: str, received: list[Any]) -> None:
    context = watch_context(citizen)
    async for item in servicer.WatchMyHistory(hpb.WatchMyHistoryRequest(), context):
        received.append(item)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until `condition` holds (fails after `timeout`)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return loop.time() - started


async def in_thread(action: Callable[[], None]) -> None:
    await asyncio.to_thread(action)


def run_with_watches(
    body: Callable[[list[list[Any]]], Awaitable[None]],
    watch: Callable[[list[Any]], Coroutine[Any, Any, None]],
) -> None:
    async def run() -> None:
        await asyncio.sleep(0.5)  # the feed follows the view (PostgreSQL: its LISTEN is up)
        received: list[list[Any]] = [[] for _ in range(WATCHES)]
        tasks = [asyncio.create_task(watch(r)) for r in received]
        try:
            await body(received)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def test_writes_for_another_citizen_do_not_wake_her_watches(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = counting_reads(node, monkeypatch)
    timeline = Timeline(node)

    async def body(received: list[list[Any]]) -> None:
        await until(lambda: reads[ALICE] >= WATCHES)  # each watch has read once, found nothing
        await asyncio.sleep(0.3)
        before = reads[ALICE]
        for _ in range(10):  # ten commits for Bob, each seen by the feed on its own
            await in_thread(lambda: timeline.add(BOB))
            await asyncio.sleep(0.15)
        await asyncio.sleep(0.3)
        assert reads[ALICE] - before == 0  # before: 20 re-reads per commit, 200 in all

        await in_thread(lambda: timeline.add(ALICE))
        assert await until(lambda: all(received)) < 1.5  # every one of her watches, promptly
        assert [len(r) for r in received] == [1] * WATCHES
        assert reads[ALICE] - before <= 2 * WATCHES  # one read for her row (and one to be sure)

    servicer = HistoryServicer(node.history)
    run_with_watches(body, lambda received: watch(servicer, ALICE, received))


def test_writes_for_another_citizen_do_not_wake_the_watches_of_her_case(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = signed_in_citizen(node, "H-1")
    case = node.transactions.submit(
        "records", "k-1", "records.request", alice, None, None, [], "", ACTOR
    )
    reads = Counter[str]()
    read = node.transactions.get

    def counted(transaction_id: str) -> TransactionView:
        reads[transaction_id] += 1
        return read(transaction_id)

    monkeypatch.setattr(node.transactions, "get", counted)
    servicer = TransactionServicer(node.transactions, node.cases, node.timeline_changes)
    timeline = Timeline(node)

    async def watch_case(received: list[Any]) -> None:
        context = watch_context(alice)
        request = tpb.WatchTransactionRequest(transaction_id=case.id)
        async for item in servicer.WatchTransaction(request, context):
            received.append(item.status)

    async def body(received: list[list[Any]]) -> None:
        await until(lambda: all(received))  # the case as it is now
        await asyncio.sleep(0.3)
        before = reads[case.id]
        for _ in range(10):
            await in_thread(lambda: timeline.add(BOB))
            await asyncio.sleep(0.15)
        await asyncio.sleep(0.3)
        assert reads[case.id] - before == 0  # before: 20 re-reads per commit

        def step() -> None:  # the step, then its row in her timeline, as the projection writes
            node.transactions.start_review(lambda _: None, case.id, "checking", ACTOR)
            timeline.add(alice)

        await in_thread(step)
        assert await until(lambda: all(len(r) == 2 for r in received)) < 1.5
        assert {tuple(r) for r in received} == {("SUBMITTED", "IN_REVIEW")}

    run_with_watches(body, watch_case)


def test_her_watches_miss_none_of_her_rows_among_many_commits(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits for her and others in quick succession, some landing while her watches read:
    every watch ends up with every one of her rows, in order."""
    timeline = Timeline(node)
    written: list[int] = []

    def write() -> None:
        for i in range(150):
            citizen = ALICE if i % 3 == 0 else BOB
            timeline.add(citizen)
            if citizen == ALICE:
                written.append(timeline.position)
            time.sleep(0.003 * (i % 5))
        time.sleep(0.3)  # and one more of hers, alone: the last row the feed sees
        timeline.add(ALICE)
        written.append(timeline.position)

    async def body(received: list[list[Any]]) -> None:
        await in_thread(write)
        await until(lambda: all(len(r) == len(written) for r in received))
        assert all([item.position for item in r] == written for r in received)

    servicer = HistoryServicer(node.history)
    run_with_watches(body, lambda received: watch(servicer, ALICE, received))
