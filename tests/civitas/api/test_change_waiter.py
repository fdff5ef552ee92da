"""Watches on the event loop wake when the feed moves for their key (from its own thread), or for
everyone, or the server stops, and otherwise only when their wait is over; a key is kept only
while a watch holds it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection

import pytest

from civitas.api.change_waiter import ChangeWaiters, StopSignal
from projections.changes import EVERYONE, ChangeFeed

ALICE, BOB = "alice", "bob"


class ManualFeed(ChangeFeed):
    """Moves when the test says, from another thread, as the real feeds do."""

    def __init__(self) -> None:
        super().__init__("manual-feed")

    def _follow(self) -> None:
        """Follows nothing: the test moves it (`move_soon`)."""

    def wait(self, since_generation: int, timeout: float) -> None:
        raise NotImplementedError  # the waiters never block a thread

    def move_soon(self, delay: float, keys: Collection[str] | None = EVERYONE) -> None:
        threading.Timer(delay, self._bump, (keys,)).start()


def waited(feed: ManualFeed, timeout: float, stop_after: float | None = None) -> float:
    """How long Alice's watch waited."""
    waiters = ChangeWaiters(feed)

    async def run() -> float:
        with waiters.watching(ALICE) as waiter:
            stop = StopSignal(asyncio.get_running_loop())
            if stop_after is not None:
                threading.Timer(stop_after, stop.set).start()  # from another thread, as the server
            started = time.monotonic()
            await waiter.wait(waiter.generation, timeout, stop)
            return time.monotonic() - started

    return asyncio.run(run())


@pytest.mark.parametrize("keys", [{ALICE}, {BOB, ALICE}, EVERYONE])
def test_a_waiting_watch_wakes_when_the_feed_moves_for_its_key(keys: set[str] | None) -> None:
    feed = ManualFeed()
    feed.move_soon(0.1, keys)
    assert waited(feed, timeout=5) < 2


def test_a_move_for_other_keys_does_not_wake_it() -> None:
    feed = ManualFeed()
    for delay in (0.05, 0.1, 0.15):
        feed.move_soon(delay, {BOB})
    assert waited(feed, timeout=0.5) >= 0.5


def test_a_waiting_watch_wakes_when_the_server_stops() -> None:
    assert waited(ManualFeed(), timeout=5, stop_after=0.1) < 2


def test_otherwise_it_waits_its_time_out() -> None:
    assert waited(ManualFeed(), timeout=0.2) >= 0.2


def test_a_move_before_the_wait_is_not_lost() -> None:
    feed = ManualFeed()
    waiters = ChangeWaiters(feed)

    async def run() -> float:
        with waiters.watching(ALICE) as waiter:
            seen = waiter.generation
            feed.move_soon(0, {ALICE})
            await asyncio.sleep(0.2)  # the move lands between the read and the wait
            started = time.monotonic()
            await waiter.wait(seen, 5)
            return time.monotonic() - started

    assert asyncio.run(run()) < 0.1


def test_watches_of_one_key_share_it_and_a_key_goes_with_its_last_watch() -> None:
    feed = ManualFeed()
    waiters = ChangeWaiters(feed)

    async def run() -> None:
        with waiters.watching(ALICE) as first, waiters.watching(ALICE) as second:
            with waiters.watching(BOB):
                assert waiters.watched() == 2
            assert waiters.watched() == 1  # Bob's watch ended: his key went with it
            seen = first.generation
            waits = [asyncio.create_task(w.wait(seen, 5)) for w in (first, second)]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            feed.move_soon(0, {ALICE})
            await asyncio.gather(*waits)
            assert time.monotonic() - started < 1  # one move woke both
            assert first.generation == second.generation == seen + 1
        assert waiters.watched() == 0  # nobody waits: nothing kept, for any citizen seen
        feed.move_soon(0, {ALICE, BOB})  # a move for keys nobody watches keeps nothing either
        await asyncio.sleep(0.1)
        assert waiters.watched() == 0

    asyncio.run(run())


def test_a_watch_that_ends_mid_wait_releases_its_key() -> None:
    feed = ManualFeed()
    waiters = ChangeWaiters(feed)

    async def watch() -> None:
        with waiters.watching(ALICE) as waiter:
            await waiter.wait(waiter.generation, 30)

    async def run() -> None:
        task = asyncio.create_task(watch())
        await asyncio.sleep(0.05)
        assert waiters.watched() == 1
        task.cancel()  # the client went away while the watch was idle
        await asyncio.gather(task, return_exceptions=True)
        assert waiters.watched() == 0

    asyncio.run(run())
