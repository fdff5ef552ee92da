"""Domain errors as `google.rpc.Status`: the code, the operator's message and the details a
program acts on. The interceptor sends every refusal through `status_for`."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from civitas.api.localized_messages import choose_locale, localized_message
from ledger.errors import (
    Aborted,
    Conflict,
    DomainError,
    FailedPrecondition,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutOfRange,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

ERROR_DOMAIN = "civitas"  # google.rpc.ErrorInfo.domain of every refusal

_CODES: list[tuple[type[DomainError], int]] = [
    (InvalidInput, code_pb2.INVALID_ARGUMENT),
    (NotFound, code_pb2.NOT_FOUND),
    (NotAllowed, code_pb2.PERMISSION_DENIED),
    (Unauthenticated, code_pb2.UNAUTHENTICATED),
    (Conflict, code_pb2.ALREADY_EXISTS),
    (Aborted, code_pb2.ABORTED),
    (Unavailable, code_pb2.UNAVAILABLE),
    (OutOfRange, code_pb2.OUT_OF_RANGE),
    (ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
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
