"""A server stream whose caller is checked again while it runs, not only when it opens.

A watch (WatchMyHistory, WatchTransaction) may stay open for hours: the caller's credentials
are checked again before every item it sends and, while it waits for one, every
`RECHECK_SECONDS`. Whatever ended them (the session revoked, expired or idle, the citizen
erased, the service account revoked) ends the stream with the same refusal a new call would
get (UNAUTHENTICATED, or PERMISSION_DENIED when the role no longer allows the method).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

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
    ) -> None:
        """`check` authenticates the call's credentials again (raising a DomainError when they
        no longer hold) and returns the caller, which must be the one that opened the stream."""
        self._check = check
        self._opened_by = opened_by
        self._clock = clock
        self._checked_at = clock()

    def recheck(self) -> None:
        caller = self._check()
        if caller != self._opened_by:
            raise NotAllowed(
                "the caller changed while the stream was open", reason="ROLE_NOT_ALLOWED"
            )
        self._checked_at = self._clock()

    def recheck_when_due(self) -> None:
        if self._clock() - self._checked_at >= RECHECK_SECONDS:
            self.recheck()


class RecheckedContext:
    """The servicer's context, whose `is_active` (which every watch loop polls while it waits)
    also checks the caller again when a check is due; everything else is the real context's."""

    def __init__(self, context: grpc.ServicerContext, caller: StreamCaller) -> None:
        self._context = context
        self._caller = caller

    def is_active(self) -> bool:
        if not self._context.is_active():
            return False
        self._caller.recheck_when_due()
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def rechecked(items: Iterator[Any], caller: StreamCaller) -> Iterator[Any]:
    """Each item, once the caller has been checked again."""
    for item in items:
        caller.recheck()
        yield item
