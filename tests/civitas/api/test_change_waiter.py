"""Watches on the event loop wake when the feed moves (from its own thread) or the server stops,
and otherwise only when their wait is over."""

from __future__ import annotations

import asyncio
import threading
import time

from civitas.api.change_waiter import ChangeWaiters, StopSignal
from projections.changes import ChangeFeed


class ManualFeed(ChangeFeed):
    """Moves when the test says, from another thread, as the real feeds do."""

    def __init__(self) -> None:
        super().__init__("manual-feed")

    def _follow(self) -> None:
        """Follows nothing: the test moves it (`move_soon`)."""

    def wait(self, since_generation: int, timeout: float) -> None:
        raise NotImplementedError  # the waiters never block a thread

    def move_soon(self, delay: float) -> None:
        threading.Timer(delay, self._bump).start()


def waited(feed: ManualFeed, timeout: float, stop_after: float | None = None) -> float:
    waiters = ChangeWaiters(feed)

    async def run() -> float:
        waiter = waiters.current()
        stop = StopSignal(asyncio.get_running_loop())
        if stop_after is not None:
            threading.Timer(stop_after, stop.set).start()  # from another thread, as the server
        started = time.monotonic()
        await waiter.wait(waiter.generation, timeout, stop)
        return time.monotonic() - started

    return asyncio.run(run())


def test_a_waiting_watch_wakes_when_the_feed_moves() -> None:
    feed = ManualFeed()
    feed.move_soon(0.1)
    assert waited(feed, timeout=5) < 2


def test_a_waiting_watch_wakes_when_the_server_stops() -> None:
    assert waited(ManualFeed(), timeout=5, stop_after=0.1) < 2


def test_otherwise_it_waits_its_time_out() -> None:
    assert waited(ManualFeed(), timeout=0.2) >= 0.2


def test_a_move_before_the_wait_is_not_lost() -> None:
    feed = ManualFeed()
    waiters = ChangeWaiters(feed)

    async def run() -> float:
        waiter = waiters.current()
        seen = waiter.generation
        feed.move_soon(0)
        await asyncio.sleep(0.2)  # the move lands between the read and the wait
        started = time.monotonic()
        await waiter.wait(seen, 5)
        return time.monotonic() - started

    assert asyncio.run(run()) < 0.1
