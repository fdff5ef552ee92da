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

from ledger.accounts import Caller
from ledger.errors import ResourceExhausted

# A stream is freed when its client leaves, which may take a while; a unary call in a moment.
STREAM_RETRY_SECONDS = 5.0
CALL_RETRY_SECONDS = 1.0

Key = tuple[str, str]  # ("citizen" or "account", the caller's name)


class CallerAllowance:
    """Counts each caller's open streams and unary calls in flight, and refuses one too many.

    Thread-safe: unary calls are counted in the worker threads, streams on the event loop."""

    def __init__(self, streams_per_caller: int, calls_per_caller: int) -> None:
        self._streams_per_caller = streams_per_caller
        self._calls_per_caller = calls_per_caller
        self.streams: Counter[Key] = Counter()
        self._calls: Counter[Key] = Counter()
        self.lock = threading.Lock()

    def stream(self, caller: Caller) -> _Held:
        return _Held(self, self.streams, self._streams_per_caller, _key(caller))

    def call(self, caller: Caller) -> _Held:
        return _Held(self, self._calls, self._calls_per_caller, _key(caller))


class _Held:
    """One stream or call counted against its caller while the `with` block runs. A class, not
    a `contextmanager` generator: an idle watch keeps it for hours, and a generator and its
    wrapper are two more objects for the garbage collector to visit, per watch, each pass."""

    __slots__ = ("_allowance", "_counts", "_key", "_limit")

    def __init__(
        self, allowance: CallerAllowance, counts: Counter[tuple[str, str]], limit: int, key: Key
    ) -> None:
        self._allowance, self._counts, self._limit, self._key = allowance, counts, limit, key

    def __enter__(self) -> None:
        counts, key = self._counts, self._key
        with self._allowance.lock:
            if counts[key] >= self._limit:
                raise _refusal(counts is self._allowance.streams, self._limit)
            counts[key] += 1

    def __exit__(self, *_: object) -> None:
        counts, key = self._counts, self._key
        with self._allowance.lock:
            counts[key] -= 1
            if not counts[key]:
                del counts[key]  # the table holds only callers with something open


def _key(caller: Caller) -> Key:
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
