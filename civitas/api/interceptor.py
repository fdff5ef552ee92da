"""The gRPC edge every RPC passes through: who is calling, may they, and what went wrong.

`CallerInterceptor` authenticates the caller (`authentication.py`), checks the role table for
the method (`roles.py`), makes the caller available to the servicers (`authorization.py`), and
turns domain errors into `google.rpc.Status` with details (`status.py`): the one place they
are mapped, so no servicer builds a status by hand. A server stream's caller is checked again
before each item and while it waits (`rechecked_stream.py`): a watch ends when its right does.
It also gives each call a request id (its log lines carry it, the caller gets it back as
`x-request-id`) and, when the call ends, writes one access log line and feeds the metrics.
Health and reflection pass through untouched: probes would drown the service's own traffic.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import grpc
from eventsourcing.persistence import InterfaceError, OperationalError
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from civitas.api.authorization import CURRENT_CALLER
from civitas.api.call_log import CURRENT_REQUEST_ID, REQUEST_ID_HEADER, call_fields, request_id_from
from civitas.api.field_limits import check_field_limits
from civitas.api.rechecked_stream import RecheckedContext, StreamCaller, rechecked
from civitas.api.roles import role_allowed
from civitas.api.status import status_for
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

if TYPE_CHECKING:
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:  # generic only in the type stubs
    _ServerInterceptor = grpc.ServerInterceptor


# (method, final status code, seconds): called once per RPC, when it ends.
CallObserver = Callable[[str, grpc.StatusCode, float], None]


@dataclass
class _Call:
    method: str
    request_id: str
    caller: str | None = None
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    started: float = field(default_factory=time.perf_counter)


class CallerInterceptor(_ServerInterceptor):
    def __init__(
        self,
        authenticate: Callable[[grpc.ServicerContext], Caller],
        roles: Mapping[str, frozenset[str]],
        on_finished: CallObserver | None = None,
    ) -> None:
        """`roles` maps each `package.Service/Method` to the roles allowed (civitas.api.roles)."""
        self._authenticate = authenticate
        self._roles = roles
        self._on_finished = on_finished

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
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

    @contextmanager
    def _serving(
        self, context: grpc.ServicerContext, allowed: frozenset[str], method: str
    ) -> Iterator[Caller]:
        """Authenticate and authorise the caller for the call, map what it raises, and account
        for it: its request id on every line logged meanwhile, then an access line and metrics."""
        call = _Call(method.lstrip("/"), request_id_from(context.invocation_metadata()))
        request = CURRENT_REQUEST_ID.set(call.request_id)
        try:
            _send_request_id(context, call.request_id)
            caller = self._authorised(context, allowed)
            call.caller = caller.name
            token = CURRENT_CALLER.set(caller)
            try:
                yield caller
            finally:
                CURRENT_CALLER.reset(token)
            # A stream whose client went away ends quietly; it did not succeed.
            call.code = grpc.StatusCode.OK if context.is_active() else grpc.StatusCode.CANCELLED
        except DomainError as error:
            status = rpc_status.to_status(status_for(error, _accept_language(context)))
            call.code = status.code
            context.abort_with_status(status)
        except GeneratorExit:  # the client cancelled a stream
            call.code = grpc.StatusCode.CANCELLED
            raise
        except DATABASE_UNREACHABLE:
            call.code = grpc.StatusCode.UNAVAILABLE
            _abort_unavailable(context, call.method)
        except Exception:
            call.code = grpc.StatusCode.INTERNAL
            _abort_internal(context, call.method)
        finally:
            self._finished(call)
            CURRENT_REQUEST_ID.reset(request)

    def _authorised(self, context: grpc.ServicerContext, allowed: frozenset[str]) -> Caller:
        caller = self._authenticate(context)
        if not role_allowed(caller.role, allowed):
            raise NotAllowed(
                f"role {caller.role!r} may not call this service", reason="ROLE_NOT_ALLOWED"
            )
        return caller

    def _finished(self, call: _Call) -> None:
        seconds = time.perf_counter() - call.started
        if self._on_finished is not None:
            self._on_finished(call.method, call.code, seconds)
        access_log.info(
            "%s %s %.1f ms",
            call.method,
            call.code.name,
            seconds * 1000,
            extra=call_fields(call.method, call.caller, call.code.name, seconds),
        )

    def _unary(self, behaviour: Any, allowed: frozenset[str], method: str) -> Any:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            with self._serving(context, allowed, method):
                return behaviour(_parsed(request), context)

        return call

    def _stream(self, behaviour: Any, allowed: frozenset[str], method: str) -> Any:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._serving(context, allowed, method) as opened_by:
                # The caller is checked again before each item and while the stream waits.
                caller = StreamCaller(partial(self._authorised, context, allowed), opened_by)
                items = behaviour(_parsed(request), RecheckedContext(context, caller))
                yield from rechecked(items, caller)

        return call


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


def _accept_language(context: grpc.ServicerContext) -> str:
    return str(dict(context.invocation_metadata()).get("accept-language", ""))


def _send_request_id(context: grpc.ServicerContext, request_id: str) -> None:
    with suppress(grpc.RpcError):  # the call is over already: nobody to tell
        context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))


def _abort_unavailable(context: grpc.ServicerContext, method: str) -> None:
    log.warning("%s: the database is unreachable; the caller may retry", method, exc_info=True)
    error = Unavailable(
        "the ledger database is unreachable; retry shortly",
        reason="DATABASE_UNREACHABLE",
        retry_after=COOL_DOWN_SECONDS,  # the breaker asks the database again after this
    )
    context.abort_with_status(rpc_status.to_status(status_for(error, _accept_language(context))))


def _abort_internal(context: grpc.ServicerContext, method: str) -> None:
    incident = uuid.uuid4().hex[:12]
    log.exception("internal error in %s (incident %s)", method, incident)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (incident {incident})")
