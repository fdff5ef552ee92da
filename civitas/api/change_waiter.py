"""Watchers on the event loop wait for a read model to change without a thread each.

The feed (`projections.changes`) moves in its own thread; it hands each move to the loop, which
wakes every waiting watcher. A thousand idle watches are a thousand suspended coroutines, each
with one future and one timer: memory, not workers.

A waiter is a set entry (added and removed in constant time), not a done callback on a shared
future: `asyncio.wait` on a future shared by N watches adds a callback and a context copy per
watch, and takes its callback out again by a linear search, so one move of the feed cost N^2/2
comparisons (5 * 10^7 for 10,000 watches) on the loop, and each timed-out wait another N.
"""

from __future__ import annotations

import asyncio
import contextlib

from projections.changes import ChangeFeed


class StopSignal:
    """Set once, when the server stops: it wakes every watch waiting then, and any that would
    wait after. Made on the loop; `set` from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.is_set = False
        self.sleepers: set[asyncio.Future[None]] = set()

    def set(self) -> None:
        self.is_set = True
        with contextlib.suppress(RuntimeError):  # the loop has closed: no watch is left
            self._loop.call_soon_threadsafe(_wake_all, self.sleepers)


class ChangeWaiter:
    def __init__(self, feed: ChangeFeed, loop: asyncio.AbstractEventLoop) -> None:
        """Made on `loop`, and waited on only there."""
        self._loop = loop
        self._generation = 0
        self._sleepers: set[asyncio.Future[None]] = set()
        feed.on_change(self._from_feed)

    @property
    def generation(self) -> int:
        return self._generation

    async def wait(
        self, since_generation: int, timeout: float, or_until: StopSignal | None = None
    ) -> None:
        """Return once the feed moves past `since_generation`, `or_until` is set, or after
        `timeout`."""
        if self._generation != since_generation or (or_until is not None and or_until.is_set):
            return
        woken: asyncio.Future[None] = self._loop.create_future()
        timer = self._loop.call_later(timeout, _wake, woken)
        self._sleepers.add(woken)
        if or_until is not None:
            or_until.sleepers.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._sleepers.discard(woken)
            if or_until is not None:
                or_until.sleepers.discard(woken)

    def _from_feed(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._move)

    def _move(self) -> None:
        self._generation += 1
        sleepers, self._sleepers = self._sleepers, set()
        _wake_all(sleepers)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _wake_all(sleepers: set[asyncio.Future[None]]) -> None:
    for woken in list(sleepers):  # each removes itself once it runs, after this
        _wake(woken)


class ChangeWaiters:
    """One waiter per event loop for a feed, made when a watch first needs it."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._waiters: dict[asyncio.AbstractEventLoop, ChangeWaiter] = {}

    def current(self) -> ChangeWaiter:
        loop = asyncio.get_running_loop()
        waiter = self._waiters.get(loop)
        if waiter is None:
            waiter = self._waiters[loop] = ChangeWaiter(self._feed, loop)
        return waiter
