"""How much of the server one caller may hold at once: open streams, and unary RPCs in flight.

The caller is who the call authenticated as: a service account by its name (every replica of a
relying service that shares one API key or certificate shares one allowance), a citizen by their
citizen id (every token of theirs, in every tab, shares one). Counting by credential instead
would let a citizen multiply their allowance by signing in again.

A call over the allowance is refused at once with RESOURCE_EXHAUSTED, reason
`TOO_MANY_STREAMS` or `TOO_MANY_CALLS`, and RetryInfo: nothing waits in a queue for it, so a
caller at its limit costs the others nothing more. Streams and unary calls have separate
allowances: a citizen watching their history may still sign in.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from ledger.accounts import Caller
from ledger.errors import ResourceExhausted

# A stream is freed when its client leaves, which may take a while; a unary call in a moment.
STREAM_RETRY_SECONDS = 5.0
CALL_RETRY_SECONDS = 1.0


class CallerAllowance:
    """Counts each caller's open streams and unary calls in flight, and refuses one too many.

    Thread-safe: unary calls are counted in the worker threads, streams on the event loop."""

    def __init__(self, streams_per_caller: int, calls_per_caller: int) -> None:
        self._streams_per_caller = streams_per_caller
        self._calls_per_caller = calls_per_caller
        self._streams: Counter[tuple[str, str]] = Counter()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def stream(self, caller: Caller) -> Iterator[None]:
        with self._held(self._streams, self._streams_per_caller, caller):
            yield

    @contextmanager
    def call(self, caller: Caller) -> Iterator[None]:
        with self._held(self._calls, self._calls_per_caller, caller):
            yield

    @contextmanager
    def _held(self, counts: Counter[tuple[str, str]], limit: int, caller: Caller) -> Iterator[None]:
        key = _key(caller)
        with self._lock:
            if counts[key] >= limit:
                raise _refusal(counts is self._streams, limit)
            counts[key] += 1
        try:
            yield
        finally:
            with self._lock:
                counts[key] -= 1
                if not counts[key]:
                    del counts[key]  # the table holds only callers with something open


def _key(caller: Caller) -> tuple[str, str]:
    return ("citizen" if caller.role == "citizen" else "account", caller.name)


def _refusal(stream: bool, limit: int) -> ResourceExhausted:
    if stream:
        return ResourceExhausted(
            f"this caller already has {limit} streams open, the most allowed; close one first",
            reason="TOO_MANY_STREAMS",
            retry_after=STREAM_RETRY_SECONDS,
            metadata={"limit": str(limit)},
        )
    return ResourceExhausted(
        f"this caller already has {limit} calls in flight, the most allowed; retry shortly",
        reason="TOO_MANY_CALLS",
        retry_after=CALL_RETRY_SECONDS,
        metadata={"limit": str(limit)},
    )
