"""Watchers on the event loop wait for a read model to change without a thread each.

The feed (`projections.changes`) moves in its own thread; it hands each move to the loop, which
wakes every waiting watcher with one future. A thousand idle watches are a thousand suspended
coroutines and one shared future: memory, not workers.
"""

from __future__ import annotations

import asyncio
import contextlib

from projections.changes import ChangeFeed


class ChangeWaiter:
    def __init__(self, feed: ChangeFeed, loop: asyncio.AbstractEventLoop) -> None:
        """Made on `loop`, and waited on only there."""
        self._loop = loop
        self._generation = 0
        self._moved: asyncio.Future[None] = loop.create_future()
        feed.on_change(self._from_feed)

    @property
    def generation(self) -> int:
        return self._generation

    async def wait(
        self, since_generation: int, timeout: float, or_until: asyncio.Future[None] | None = None
    ) -> None:
        """Return once the feed moves past `since_generation`, `or_until` resolves, or after
        `timeout`. (`asyncio.wait` never cancels the futures: the shared one stays.)"""
        if self._generation != since_generation:
            return
        futures = {self._moved} if or_until is None else {self._moved, or_until}
        await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

    def _from_feed(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._move)

    def _move(self) -> None:
        self._generation += 1
        moved, self._moved = self._moved, self._loop.create_future()
        moved.set_result(None)


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
