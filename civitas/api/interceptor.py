"""The gRPC edge: who is calling (API key or client certificate), may they, and error mapping.

Every RPC passes through `CallerInterceptor`: it authenticates the caller, checks the role
policy for the method, makes the caller available to the application (`ledger.accounts`), and
turns domain errors into `google.rpc.Status` with details. No servicer builds a status by hand.
It also gives each call a request id (its log lines carry it, the caller gets it back as
`x-request-id`) and, when the call ends, writes one access log line and feeds the metrics.
Health and reflection pass through untouched: probes would drown the service's own traffic.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
from eventsourcing.persistence import InterfaceError, OperationalError
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from civitas.api.authorization import CURRENT_CALLER
from civitas.api.call_log import CURRENT_REQUEST_ID, REQUEST_ID_HEADER, call_fields, request_id_from
from civitas.api.localized_messages import choose_locale, localized_message
from civitas.api.roles import role_allowed
from ledger.accounts import Caller, ServiceAccounts
from ledger.breaker import COOL_DOWN_SECONDS
from ledger.errors import (
    Aborted,
    Conflict,
    DomainError,
    FailedPrecondition,
    InvalidInput,
    MalformedRequest,
    NotAllowed,
    NotFound,
    OutOfRange,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)
access_log = logging.getLogger("civitas.access")

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Lost or refused database connections (PostgreSQL restarting, SQLite's lock timeout): the
# caller may retry. A connection lost during COMMIT may have committed; a retry is still safe
# where it matters: submissions carry idempotency keys, registrations a unique national id, and
# an authentication attempt completes once. Every other unexpected error is INTERNAL.
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)
ERROR_DOMAIN = "civitas"  # google.rpc.ErrorInfo.domain of every refusal
AUTH_CACHE_SECONDS = 2.0  # how long a revoked key may still work on a running server

_CODES: list[tuple[type[DomainError], int]] = [
    (InvalidInput, code_pb2.INVALID_ARGUMENT),
    (NotFound, code_pb2.NOT_FOUND),
    (NotAllowed, code_pb2.PERMISSION_DENIED),
    (Unauthenticated, code_pb2.UNAUTHENTICATED),
    (Conflict, code_pb2.ALREADY_EXISTS),
    (Aborted, code_pb2.ABORTED),
    (Unavailable, code_pb2.UNAVAILABLE),
    (OutOfRange, code_pb2.OUT_OF_RANGE),
    (FailedPrecondition, code_pb2.FAILED_PRECONDITION),
]


# A status travels in the call's trailers (grpc-message, grpc-status-details-bin), which gRPC
# refuses past 8-16 KiB: the caller would get RESOURCE_EXHAUSTED instead of the refusal. So a
# status names at most a few violations and cuts its texts, whatever the input quoted.
MAX_VIOLATIONS = 8
MAX_MESSAGE_BYTES = 512
MAX_DETAIL_BYTES = 200


def status_for(error: DomainError, accept_language: str = "") -> status_pb2.Status:
    """The status a refusal travels as: the code, the English message for operators, and the
    details a program acts on (AIP-193): ErrorInfo first, then RetryInfo, LocalizedMessage and
    BadRequest where they apply."""
    code = next((code for kind, code in _CODES if isinstance(error, kind)), code_pb2.UNKNOWN)
    status = status_pb2.Status(code=code, message=_cut(str(error), MAX_MESSAGE_BYTES))
    status.details.append(
        _packed(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
            )
        )
    )
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(timedelta(seconds=error.retry_after))
        status.details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    locale = choose_locale(accept_language)
    status.details.append(
        _packed(
            error_details_pb2.LocalizedMessage(
                locale=locale, message=_cut(localized_message(error, locale), MAX_MESSAGE_BYTES)
            )
        )
    )
    if isinstance(error, InvalidInput):
        status.details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=_cut(v.field, MAX_DETAIL_BYTES),
                            description=_cut(v.description, MAX_DETAIL_BYTES),
                        )
                        for v in error.violations[:MAX_VIOLATIONS]
                    ]
                )
            )
        )
    return status


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _cut(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut at a character boundary, marked with an ellipsis."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


class CallerAuthenticator:
    """Service accounts by API key (`authorization: Bearer cvk.…`) or, under mTLS, by client
    certificate; citizens by the JWT IdentityService issued them (`Bearer <JWT>`)."""

    def __init__(
        self, accounts: ServiceAccounts, citizen_caller: Callable[[str], Caller | None]
    ) -> None:
        self._accounts = accounts
        self._citizen_caller = citizen_caller
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def authenticate(self, context: grpc.ServicerContext) -> Caller:
        metadata = dict(context.invocation_metadata())
        authorization = str(metadata.get("authorization", ""))
        if authorization:
            scheme, _, api_key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not api_key:
                raise Unauthenticated(
                    "authorization must be 'Bearer <API key or token>'",
                    reason="MALFORMED_AUTHORIZATION",
                )
            credential = api_key.strip()
            if credential.count(".") == 2 and not credential.startswith("cvk."):
                return self._by_citizen_token(credential)
            return self._by_api_key(credential)
        peer_identity: Mapping[str, Sequence[bytes]] = context.auth_context()  # type: ignore[assignment]
        common_names = peer_identity.get("x509_common_name", [])
        if common_names:
            name = common_names[0].decode()
            caller = self._accounts.find(name)
            if caller is None:
                raise Unauthenticated(
                    "client certificate names no active service account",
                    reason="UNKNOWN_CLIENT_CERTIFICATE",
                )
            return caller
        raise Unauthenticated(
            "no credentials: send an API key or a client certificate", reason="NO_CREDENTIALS"
        )

    def _by_citizen_token(self, token: str) -> Caller:
        """A citizen's own JWT (from IdentityService): checked, and its session still active."""
        caller = self._citizen_caller(token)
        if caller is None:
            raise Unauthenticated(
                "the token is not valid or its session has ended", reason="INVALID_TOKEN"
            )
        return caller

    def _by_api_key(self, api_key: str) -> Caller:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and now - cached[0] < AUTH_CACHE_SECONDS:
            return cached[1]
        caller = self._accounts.authenticate_key(api_key)
        with self._lock:
            self._cache[digest] = (now, caller)
        return caller


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
    ) -> Iterator[None]:
        """Authenticate and authorise the caller for the call, map what it raises, and account
        for it: its request id on every line logged meanwhile, then an access line and metrics."""
        call = _Call(method.lstrip("/"), request_id_from(context.invocation_metadata()))
        request = CURRENT_REQUEST_ID.set(call.request_id)
        try:
            _send_request_id(context, call.request_id)
            caller = self._authenticate(context)
            call.caller = caller.name
            if not role_allowed(caller.role, allowed):
                raise NotAllowed(
                    f"role {caller.role!r} may not call this service", reason="ROLE_NOT_ALLOWED"
                )
            token = CURRENT_CALLER.set(caller)
            try:
                yield
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
            with self._serving(context, allowed, method):
                yield from behaviour(_parsed(request), context)

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
    return request


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
