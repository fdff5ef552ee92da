"""Watchers on the event loop wait for their own key (a citizen) to change, without a thread each.

The feed (`projections.changes`) moves in its own thread and says which keys changed; it hands
each move to the loop, which wakes only the watchers of those keys (issue 14: a write for one
citizen must not make every idle watch re-read its timeline). Per key there is one generation
and the set of its watchers waiting now. The key's entry lives while a watch holds it
(`ChangeWaiters.watching`) and goes with the last one: no entry for every citizen ever seen. A
thousand idle watches are a thousand suspended coroutines, each with one future and one timer:
memory, not workers.

A watch notes its key's generation before it reads, then waits for it to move past that: a
change between the read and the wait has already moved it, so the wait returns at once.

A waiter is a set entry (added and removed in constant time), not a done callback on a shared
future: `asyncio.wait` on a future shared by N watches adds a callback and a context copy per
watch, and takes its callback out again by a linear search, so one move of the feed cost N^2/2
comparisons (5 * 10^7 for 10,000 watches) on the loop, and each timed-out wait another N.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from projections.changes import ChangeFeed, Keys


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


@dataclass
class _Key:
    generation: int = 0
    holders: int = 0  # the watches holding the key, waiting or not
    sleepers: set[asyncio.Future[None]] = field(default_factory=set)  # those waiting now


class ChangeWaiter:
    """One watch's view of its key's changes, on the loop it was made on; the key is held until
    the watch's `with` block ends. A slotted class, not a `contextmanager` generator: an idle
    watch keeps it for hours, and every object it keeps is one more for each full collection."""

    __slots__ = ("_key", "_loop", "_name", "_waiters")

    def __init__(self, waiters: _LoopWaiters, name: str) -> None:
        self._waiters, self._name, self._loop = waiters, name, waiters.loop
        self._key = waiters.hold(name)

    def __enter__(self) -> ChangeWaiter:
        return self

    def __exit__(self, *_: object) -> None:
        self._waiters.release(self._name)

    @property
    def generation(self) -> int:
        """Moves each time the key changes (or the feed cannot tell whose change it was)."""
        return self._key.generation

    async def wait(
        self, since_generation: int, timeout: float, or_until: StopSignal | None = None
    ) -> None:
        """Return once the key's generation moves past `since_generation`, `or_until` is set,
        or after `timeout`."""
        key = self._key
        if key.generation != since_generation or (or_until is not None and or_until.is_set):
            return
        woken: asyncio.Future[None] = self._loop.create_future()
        timer = self._loop.call_later(timeout, _wake, woken)
        key.sleepers.add(woken)
        if or_until is not None:
            or_until.sleepers.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            key.sleepers.discard(woken)
            if or_until is not None:
                or_until.sleepers.discard(woken)


class _LoopWaiters:
    """The keys watched on one event loop, moved by the feed's thread through the loop."""

    def __init__(self, feed: ChangeFeed, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.keys: dict[str, _Key] = {}
        feed.on_change(self._from_feed)

    def hold(self, key: str) -> _Key:
        entry = self.keys.get(key)
        if entry is None:
            entry = self.keys[key] = _Key()
        entry.holders += 1
        return entry

    def release(self, key: str) -> None:
        entry = self.keys[key]
        entry.holders -= 1
        if entry.holders == 0:  # nobody watches the key: forget it
            del self.keys[key]

    def _from_feed(self, keys: Keys) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._move, keys)

    def _move(self, keys: Keys) -> None:
        if keys is None:
            moved = list(self.keys.values())
        else:
            moved = [entry for key in keys if (entry := self.keys.get(key)) is not None]
        for entry in moved:
            entry.generation += 1
            sleepers, entry.sleepers = entry.sleepers, set()
            _wake_all(sleepers)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _wake_all(sleepers: set[asyncio.Future[None]]) -> None:
    for woken in list(sleepers):  # each removes itself once it runs, after this
        _wake(woken)


class ChangeWaiters:
    """The keys watched on each event loop for a feed, gathered when a watch first needs them."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._loops: dict[asyncio.AbstractEventLoop, _LoopWaiters] = {}

    def watching(self, key: str) -> ChangeWaiter:
        """A waiter for `key`'s changes, for a `with` block on the running loop: the key is
        held from now until the block ends."""
        loop = asyncio.get_running_loop()
        waiters = self._loops.get(loop)
        if waiters is None:
            waiters = self._loops[loop] = _LoopWaiters(self._feed, loop)
        return ChangeWaiter(waiters, key)

    def watched(self) -> int:
        """How many keys are watched now, on every loop (each held by at least one watch)."""
        return sum(len(waiters.keys) for waiters in self._loops.values())
