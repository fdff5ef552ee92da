"""What a unary servicer, running in a worker thread, may ask of its call: who sent it and with
which metadata.

The call itself belongs to the event loop (`grpc.aio`): the interceptor sends its headers and
its refusals there. grpc.aio's own context for synchronous handlers does the same by blocking
the worker on a round trip to the loop for each, which measurably slowed every unary call. This
context only reads the call, which needs no loop; sending anything from a worker is not on offer,
so a servicer that tried would fail loudly (AttributeError, INTERNAL) instead of, with the aio
context's coroutines, silently doing nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc


class UnaryContext:
    def __init__(self, call: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._call = call

    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]]:
        return tuple(self._call.invocation_metadata() or ())

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self._call.auth_context()

    def peer(self) -> str:
        return self._call.peer()

    def time_remaining(self) -> float | None:
        return self._call.time_remaining()
