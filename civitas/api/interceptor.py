"""The gRPC edge every RPC passes through: who is calling, may they, and what went wrong.

`CallerInterceptor` authenticates the caller (`authentication.py`), checks the role table for
the method (`roles.py`), makes the caller available to the servicers (`authorization.py`), and
turns domain errors into `google.rpc.Status` with details (`status.py`): the one place they
are mapped, so no servicer builds a status by hand. It holds each caller to its allowance of
streams and calls in flight (`caller_limits.py`). The server is `grpc.aio`: a unary call's
headers and refusal are sent on the event loop, its caller check and servicer run in a worker
thread (one hop there and back: see `_unary`); a stream is an async generator on the event
loop, so an idle one holds no thread. A stream's caller is checked again before each item and
while it waits (`rechecked_stream.py`): a watch ends when its right does, or when its lifetime
is over.
It also gives each call a request id (its log lines carry it, the caller gets it back as
`x-request-id`) and, when the call ends, writes one access log line and feeds the metrics.
Health and reflection pass through untouched: probes would drown the service's own traffic.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import grpc
from eventsourcing.persistence import InterfaceError, OperationalError
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from civitas.api.authorization import CURRENT_CALLER
from civitas.api.call_log import CURRENT_REQUEST_ID, REQUEST_ID_HEADER, call_fields, request_id_from
from civitas.api.caller_limits import CallerAllowance
from civitas.api.change_waiter import StopSignal
from civitas.api.field_limits import check_field_limits
from civitas.api.rechecked_stream import (
    RECHECK_SECONDS,
    StreamCaller,
    WatchContext,
    rechecked,
)
from civitas.api.roles import role_allowed
from civitas.api.status import status_for
from civitas.api.unary_context import UnaryContext
from ledger.accounts import Caller
from ledger.breaker import COOL_DOWN_SECONDS
from ledger.errors import DomainError, MalformedRequest, NotAllowed, Unavailable

log = logging.getLogger(__name__)
access_log = logging.getLogger("civitas.access")

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Lost or refused database connections (PostgreSQL restarting, SQLite's lock timeout): the
# caller may retry. A connection lost during COMMIT may have committed; a retry is still safe
# where it matters: submissions carry idempotency keys, registrations a unique national id, and
# an authentication attempt completes once. Every other unexpected error is INTERNAL.
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)

# The watches: open-ended, resumable from the position of the last item the client got, so
# they may be ended after their lifetime. The audit streams end by themselves and cannot resume.
WATCHES = frozenset(
    {
        "/civitas.v1.HistoryService/WatchMyHistory",
        "/civitas.v1.TransactionService/WatchTransaction",
    }
)

# (method, final status code, seconds): called once per RPC, when it ends.
CallObserver = Callable[[str, grpc.StatusCode, float], None]
# A unary call's context in a worker thread, or a call's on the event loop.
AnyContext = UnaryContext | grpc.aio.ServicerContext[Any, Any]


@dataclass
class _Call:
    method: str
    request_id: str
    caller: str | None = None
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None


@dataclass(frozen=True)
class _Refusal:
    """How a failed call ends: code, message and the status details in trailing metadata."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:  # generic only in the type stubs
    _ServerInterceptor = grpc.aio.ServerInterceptor


class CallerInterceptor(_ServerInterceptor):
    def __init__(
        self,
        authenticate: Callable[[Any], Caller],  # given a unary call's or a stream's context
        roles: Mapping[str, frozenset[str]],
        workers: Executor,
        on_finished: CallObserver | None = None,
        allowance: CallerAllowance | None = None,
        watch_lifetime: float = math.inf,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        """`roles` maps each `package.Service/Method` to the roles allowed (civitas.api.roles);
        unary calls run in `workers`; `allowance` bounds what one caller holds; a watch ends after
        `watch_lifetime` seconds."""
        self._authenticate = authenticate
        self._roles = roles
        self._workers = workers
        self._on_finished = on_finished
        self._allowance = allowance or CallerAllowance(2**31, 2**31)
        self._watch_lifetime = watch_lifetime
        self._recheck_seconds = recheck_seconds
        self._ending_watches = False
        self._watches_ending = lambda: self._ending_watches  # one for every watch, not one each
        self._stopping: StopSignal | None = None  # made on the loop, by a first stream
        # The wrapped handler of each method, made once: gRPC keeps a call's handler for as long
        # as the call lasts, so one made per call would be kept alive by every idle watch.
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def end_watches(self) -> None:
        """The server is stopping: each watch wakes and ends cleanly (OK), and its client
        resumes from its last position, on another replica if need be. From any thread."""
        self._ending_watches = True
        if self._stopping is not None:
            self._stopping.set()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        # None when no service has the method (the stubs say otherwise): gRPC says UNIMPLEMENTED.
        handler: grpc.RpcMethodHandler[Any, Any] | None = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler  # type: ignore[return-value]
        wrapped = self._wrapped.get(method)
        if wrapped is None or wrapped[0] is not handler:
            wrapped = self._wrapped[method] = (handler, self._wrap(handler, method))
        return wrapped[1]

    def _wrap(self, handler: Handler, method: str) -> Handler:
        allowed = self._roles.get(method.lstrip("/"), frozenset())  # no entry: nobody
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, allowed, method),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, allowed, method),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behaviour: Any, allowed: frozenset[str], method: str) -> Any:
        """A coroutine on the event loop, which sends the call's request id and any refusal
        itself; the caller check and `behaviour` (synchronous, perhaps waiting on the database)
        run in a worker. Left to grpc.aio, a synchronous handler would run in the same pool but
        block on a round trip to the loop for each header or abort it sends."""

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = _Call(method.lstrip("/"), request_id_from(_metadata(context)))
            CURRENT_REQUEST_ID.set(call.request_id)  # each call is a task with its own context
            with suppress(Exception):  # the call is over already: nobody to tell
                await context.send_initial_metadata(((REQUEST_ID_HEADER, call.request_id),))
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._workers,
                partial(
                    contextvars.copy_context().run,  # the request id reaches the worker's logs
                    self._served,
                    behaviour,
                    request,
                    UnaryContext(context),
                    allowed,
                    call,
                ),
            )
            if isinstance(outcome, _Refusal):
                await context.abort(outcome.code, outcome.details, outcome.trailing_metadata)
            return outcome

        return call

    def _served(
        self,
        behaviour: Any,
        request: Any,
        context: UnaryContext,
        allowed: frozenset[str],
        call: _Call,
    ) -> Any:
        """In a worker: authenticate and authorise the caller, hold their allowance while
        `behaviour` runs, and account for the call (an access line and metrics). Returns the
        response, or the refusal the loop is to end the call with."""
        try:
            caller = self._authorised(context, allowed)
            call.caller = caller.name
            CURRENT_CALLER.set(caller)  # in this call's own copy of the context
            with self._allowance.call(caller):
                response = behaviour(_parsed(request), context)
            call.code = grpc.StatusCode.OK
            return response
        except Exception as error:
            refusal = _refusal(error, call.method, context)
            call.code = refusal.code
            return refusal
        finally:
            self._finished(call)  # before the caller hears: an abort is sent at once

    def _stream(self, behaviour: Any, allowed: frozenset[str], method: str) -> Any:
        """An async generator: the stream waits on the event loop, not in a worker thread.

        The context variables are set, never reset: each stream is its own task with its own
        copy of them, and a cancelled stream is closed later, from another task."""
        lifetime = self._watch_lifetime if method in WATCHES else math.inf

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = _Call(method.lstrip("/"), request_id_from(_metadata(context)))
            CURRENT_REQUEST_ID.set(call.request_id)
            try:
                with suppress(Exception):  # the call is over already: nobody to tell
                    await context.send_initial_metadata(((REQUEST_ID_HEADER, call.request_id),))
                caller = await asyncio.to_thread(self._authorised, context, allowed)
                call.caller = caller.name
                with self._allowance.stream(caller):
                    CURRENT_CALLER.set(caller)
                    # The caller is checked again before each item and while the stream waits.
                    again = StreamCaller(
                        partial(self._authorised, context, allowed),
                        caller,
                        interval=self._recheck_seconds,
                        # At a random point of the interval: watches opened together (a
                        # reconnect storm) must not all recheck in the same instant ever after.
                        first_check_in=random.uniform(0, self._recheck_seconds),  # noqa: S311
                    )
                    if self._stopping is None:
                        self._stopping = StopSignal(asyncio.get_running_loop())
                    watch = WatchContext(
                        context,
                        again,
                        time.monotonic() + lifetime,
                        self._watches_ending,
                        self._stopping,
                    )
                    async for item in rechecked(behaviour(_parsed(request), watch), again):
                        yield item
                        if watch.expired:
                            break
                call.code = grpc.StatusCode.OK
            except (asyncio.CancelledError, GeneratorExit):  # the client went away
                call.code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                refusal = _refusal(error, call.method, context)
                call.code = refusal.code
                self._finished(call)  # before the caller hears: an abort is sent at once
                await context.abort(refusal.code, refusal.details, refusal.trailing_metadata)
            finally:
                self._finished(call)

        return call

    def _authorised(self, context: AnyContext, allowed: frozenset[str]) -> Caller:
        caller = self._authenticate(context)
        if not role_allowed(caller.role, allowed):
            raise NotAllowed(
                f"role {caller.role!r} may not call this service", reason="ROLE_NOT_ALLOWED"
            )
        return caller

    def _finished(self, call: _Call) -> None:
        """Log and count the call, once."""
        if call.ended is not None:
            return
        call.ended = time.perf_counter()
        seconds = call.ended - call.started
        if self._on_finished is not None:
            self._on_finished(call.method, call.code, seconds)
        access_log.info(
            "%s %s %.1f ms",
            call.method,
            call.code.name,
            seconds * 1000,
            extra=call_fields(call.method, call.caller, call.code.name, seconds),
        )


def _refusal(error: Exception, method: str, context: AnyContext) -> _Refusal:
    """What a call that raised `error` ends with: a domain error's status with its details,
    UNAVAILABLE when the database is out of reach, else INTERNAL with an incident id."""
    if isinstance(error, DomainError):
        status = rpc_status.to_status(status_for(error, _accept_language(context)))
        return _Refusal(status.code, status.details, tuple(status.trailing_metadata))
    if isinstance(error, DATABASE_UNREACHABLE):
        log.warning("%s: the database is unreachable; the caller may retry", method, exc_info=True)
        unavailable = Unavailable(
            "the ledger database is unreachable; retry shortly",
            reason="DATABASE_UNREACHABLE",
            retry_after=COOL_DOWN_SECONDS,  # the breaker asks the database again after this
        )
        return _refusal(unavailable, method, context)
    incident = uuid.uuid4().hex[:12]
    log.error("internal error in %s (incident %s)", method, incident, exc_info=error)
    return _Refusal(grpc.StatusCode.INTERNAL, f"internal error (incident {incident})")


# gRPC aborts with INTERNAL when a request deserializer raises, before any handler or this
# interceptor runs. Undecodable bytes are the caller's mistake (INVALID_ARGUMENT), so the
# deserializer hands on a marker instead, and the call is refused like any other: after the
# caller is authenticated, with an access log line and metrics.
_UNDECODABLE = object()


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    parse = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError:
            return _UNDECODABLE

    return deserialize


def _parsed(request: Any) -> Any:
    if request is _UNDECODABLE:
        raise MalformedRequest
    return check_field_limits(request)  # every field within its limit, before any work


def _accept_language(context: AnyContext) -> str:
    return str(dict(_metadata(context)).get("accept-language", ""))


def _metadata(context: AnyContext) -> tuple[tuple[str, str | bytes], ...]:
    return tuple(context.invocation_metadata() or ())
