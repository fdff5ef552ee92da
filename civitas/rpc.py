"""The gRPC edge: who is calling (API key or client certificate), may they, and error mapping.

Every RPC passes through `CallerInterceptor`: it authenticates the caller, checks the role
policy for the method, makes the caller available to the application (`ledger.accounts`), and
turns domain errors into `google.rpc.Status` with details. No servicer builds a status by hand.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from civitas.messages import choose_locale, localized_message
from ledger.accounts import CURRENT_CALLER, Caller, ServiceAccounts
from ledger.errors import (
    Conflict,
    DomainError,
    FailedPrecondition,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutOfRange,
    Unauthenticated,
)

log = logging.getLogger(__name__)

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
AUTH_CACHE_SECONDS = 2.0  # how long a revoked key may still work on a running server

_CODES: list[tuple[type[DomainError], int]] = [
    (InvalidInput, code_pb2.INVALID_ARGUMENT),
    (NotFound, code_pb2.NOT_FOUND),
    (NotAllowed, code_pb2.PERMISSION_DENIED),
    (Unauthenticated, code_pb2.UNAUTHENTICATED),
    (Conflict, code_pb2.ALREADY_EXISTS),
    (OutOfRange, code_pb2.OUT_OF_RANGE),
    (FailedPrecondition, code_pb2.FAILED_PRECONDITION),
]


def status_for(error: DomainError, accept_language: str = "") -> status_pb2.Status:
    code = next((code for kind, code in _CODES if isinstance(error, kind)), code_pb2.UNKNOWN)
    status = status_pb2.Status(code=code, message=str(error))
    locale = choose_locale(accept_language)
    localized = any_pb2.Any()
    localized.Pack(
        error_details_pb2.LocalizedMessage(locale=locale, message=localized_message(error, locale))
    )
    status.details.append(localized)
    if isinstance(error, InvalidInput):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
        status.details.append(detail)
    return status


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
                raise Unauthenticated("authorization must be 'Bearer <API key or token>'")
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
                raise Unauthenticated("client certificate names no active service account")
            return caller
        raise Unauthenticated("no credentials: send an API key or a client certificate")

    def _by_citizen_token(self, token: str) -> Caller:
        """A citizen's own JWT (from IdentityService): checked, and its session still active."""
        caller = self._citizen_caller(token)
        if caller is None:
            raise Unauthenticated("the token is not valid or its session has ended")
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


class CallerInterceptor(_ServerInterceptor):
    def __init__(
        self,
        authenticate: Callable[[grpc.ServicerContext], Caller],
        roles: Mapping[str, frozenset[str]],
    ) -> None:
        """`roles` maps a service name, or a `service/Method` name, to the roles allowed."""
        self._authenticate = authenticate
        self._roles = roles

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        service = method.rsplit("/", 1)[0].lstrip("/")
        allowed = self._roles.get(method.lstrip("/"), self._roles.get(service, frozenset()))
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, allowed, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, allowed, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _authorise(self, context: grpc.ServicerContext, allowed: frozenset[str]) -> Caller:
        caller = self._authenticate(context)
        if not _role_allowed(caller.role, allowed):
            raise NotAllowed(f"role {caller.role!r} may not call this service")
        return caller

    @contextmanager
    def _serving(
        self, context: grpc.ServicerContext, allowed: frozenset[str], method: str
    ) -> Iterator[None]:
        """Authenticate and authorise the caller for the call, and map what it raises."""
        try:
            token = CURRENT_CALLER.set(self._authorise(context, allowed))
            try:
                yield
            finally:
                CURRENT_CALLER.reset(token)
        except DomainError as error:
            _abort(context, error)
        except Exception:
            _abort_internal(context, method)

    def _unary(self, behaviour: Any, allowed: frozenset[str], method: str) -> Any:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            with self._serving(context, allowed, method):
                return behaviour(request, context)

        return call

    def _stream(self, behaviour: Any, allowed: frozenset[str], method: str) -> Any:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._serving(context, allowed, method):
                yield from behaviour(request, context)

        return call


def _role_allowed(role: str, allowed: frozenset[str]) -> bool:
    return role in allowed or ("agency:*" in allowed and role.startswith("agency:"))


def _abort(context: grpc.ServicerContext, error: DomainError) -> None:
    accept_language = str(dict(context.invocation_metadata()).get("accept-language", ""))
    context.abort_with_status(rpc_status.to_status(status_for(error, accept_language)))


def _abort_internal(context: grpc.ServicerContext, method: str) -> None:
    incident = uuid.uuid4().hex[:12]
    log.exception("internal error in %s (incident %s)", method, incident)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (incident {incident})")
