"""A `grpc.aio` server on an event loop of its own, driven from ordinary synchronous code.

The server's streams wait on the loop (an idle watch is a suspended coroutine, not a thread).
Unary calls do their work in the worker pool it is given (the interceptor hands it to them);
the streams' blocking reads and credential rechecks in a small pool of their own, the loop's
default executor (`asyncio.to_thread`), so that no amount of stream housekeeping delays a unary
call.
`civitas serve`, the tests and the benchmarks start, bind and stop it like the synchronous
server it replaced.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

T = TypeVar("T")
STREAM_WORKERS = 4


class ServerLoop:
    def __init__(
        self,
        build: Callable[[], grpc.aio.Server],
        workers: ThreadPoolExecutor,
    ) -> None:
        """`build` makes the server on the loop; `workers`, the pool its unary calls run in,
        is shut down with it."""
        self._workers = workers
        # The streams' own reads and rechecks: a pool apart, so a wave of idle watches checking
        # their callers never queues ahead of a unary call.
        self._stream_workers = ThreadPoolExecutor(
            max_workers=STREAM_WORKERS, thread_name_prefix="stream"
        )
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(self._stream_workers)
        self._thread = threading.Thread(target=self._run_loop, name="grpc-aio", daemon=True)
        self._thread.start()
        self.server: grpc.aio.Server = self.call(build)
        self._before_stop: list[Callable[[], None]] = []

    def before_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` when `stop` begins, before calls are cut (ending the watches)."""
        self._before_stop.append(callback)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def submit(self, coroutine: Coroutine[Any, Any, object]) -> None:
        """Schedule `coroutine` on the server's loop from any thread, without waiting; once the
        loop has stopped, nothing is left to tell."""
        if self._loop.is_closed():
            coroutine.close()
            return
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # closed meanwhile
            coroutine.close()

    def call(self, function: Callable[[], T]) -> T:
        """Call `function` on the server's loop (gRPC's aio objects belong to their loop)."""

        async def on_loop() -> T:
            return function()

        return self.run(on_loop())

    def add_insecure_port(self, address: str) -> int:
        return self.call(lambda: self.server.add_insecure_port(address))

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return self.call(lambda: self.server.add_secure_port(address, credentials))

    def start(self) -> None:
        self.run(self.server.start())

    def stop(self, grace: float | None) -> threading.Event:
        """Stop serving (calls still running get `grace` seconds), then the loop and the
        workers. Returns an event that is set once everything has stopped."""
        stopped = threading.Event()
        for callback in self._before_stop:
            callback()
        if self._thread.is_alive():
            self.run(self.server.stop(grace))
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._stream_workers.shutdown(wait=True, cancel_futures=True)
        stopped.set()
        return stopped

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
