"""A server stream whose caller is checked again while it runs, not only when it opens.

A watch (WatchMyHistory, WatchTransaction) may stay open until its lifetime ends: the caller's
credentials are checked again before every item it sends and, while it waits for one, every
`RECHECK_SECONDS`. Whatever ended them (the session revoked, expired or idle, the citizen
erased, the service account revoked) ends the stream with the same refusal a new call would
get (UNAUTHENTICATED, or PERMISSION_DENIED when the role no longer allows the method).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc

from civitas.api.change_waiter import ChangeWaiter, StopSignal
from ledger.errors import NotAllowed

# While a watch is idle: how long a revoked credential may still hold it open. Each check is a
# token signature and a session read (or the API-key cache), so once a second is cheap.
RECHECK_SECONDS = 1.0


class StreamCaller:
    """Checks that the caller who opened a stream is still the caller, and still allowed."""

    def __init__(
        self,
        check: Callable[[], object],
        opened_by: object,
        clock: Callable[[], float] = time.monotonic,
        interval: float = RECHECK_SECONDS,
        first_check_in: float | None = None,
    ) -> None:
        """`check` authenticates the call's credentials again (raising a DomainError when they
        no longer hold) and returns the caller, which must be the one that opened the stream."""
        self._check = check
        self._opened_by = opened_by
        self._clock = clock
        self.interval = interval
        # `first_check_in` < interval moves the whole schedule earlier (see the interceptor).
        self._checked_at = (
            clock() - interval + (interval if first_check_in is None else first_check_in)
        )

    def recheck(self) -> None:
        caller = self._check()
        if caller != self._opened_by:
            raise NotAllowed(
                "the caller changed while the stream was open", reason="ROLE_NOT_ALLOWED"
            )
        self._checked_at = self._clock()

    def due(self) -> bool:
        return self._clock() - self._checked_at >= self.interval


class WatchContext:
    """The context a stream's handler gets: the real one, plus `active()`, which every watch
    awaits between items. It checks the caller again when a check is due (in a worker thread:
    the check reads the session), and says when the stream's lifetime is over."""

    def __init__(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        caller: StreamCaller,
        ends_at: float,
        server_stopping: Callable[[], bool] = lambda: False,
        stopped: StopSignal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`stopped` is set when the server stops: an idle watch wakes for it at once."""
        self._context = context
        self._caller = caller
        self._ends_at = ends_at
        self._server_stopping = server_stopping
        self._stopped = stopped
        self._clock = clock

    def idle(self, changes: ChangeWaiter, since_generation: int) -> Awaitable[None]:
        """Wait until the feed moves past `since_generation`, a recheck of the caller is due,
        or the server stops; then the watch asks `active()` again. (The waiter's coroutine
        itself, not one more wrapped around it, that an idle watch would hold while it waits.)"""
        return changes.wait(since_generation, self._caller.interval, self._stopped)

    @property
    def expired(self) -> bool:
        """The stream has lived its allowed time, or the server is stopping: it ends, and the
        client resumes from its last position."""
        return self._clock() >= self._ends_at or self._server_stopping()

    async def active(self) -> bool:
        """Whether the watch goes on; raises the refusal when the caller's right has ended."""
        if self._context.done() or self.expired:
            return False
        if self._caller.due():
            await asyncio.to_thread(self._caller.recheck)
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


async def rechecked(
    items: AsyncIterator[Any] | Iterator[Any], caller: StreamCaller
) -> AsyncIterator[Any]:
    """Each item, once the caller has been checked again. A synchronous generator (the audit
    streams, busy until they end) is stepped in a worker thread, one item at a time."""
    if isinstance(items, AsyncIterator):
        async for item in items:
            await asyncio.to_thread(caller.recheck)
            yield item
        return
    while (item := await asyncio.to_thread(_next_checked, items, caller)) is not _END:
        yield item


_END = object()


def _next_checked(items: Iterator[Any], caller: StreamCaller) -> Any:
    item = next(items, _END)
    if item is not _END:
        caller.recheck()
    return item
