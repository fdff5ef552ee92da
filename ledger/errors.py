"""Domain errors, raised anywhere and turned into gRPC statuses in one place (civitas/api/).

Each error carries a stable machine-readable `reason` (UPPER_SNAKE_CASE, AIP-193), sent to the
caller as `google.rpc.ErrorInfo` in domain `civitas`: a relying service branches on it, never
on the English message. Each kind has a default reason; a raise site names a sharper one, and
`metadata` (ErrorInfo.metadata) which thing it is about where that helps. An error the caller
should simply retry later carries `retry_after`, sent as `RetryInfo`. Every reason is listed in
docs/errors.md with what a relying service should do; tests/docs/test_errors_doc.py fails when
a reason is added or dropped here without the doc.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class DomainError(Exception):
    """Base of the errors a caller can act on; their messages never contain secrets."""

    reason = "UNSPECIFIED"

    def __init__(
        self,
        message: str = "",
        *,
        reason: str | None = None,
        retry_after: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.retry_after = retry_after  # seconds; only for errors a retry will cure
        self.metadata = dict(metadata or {})  # ErrorInfo.metadata: which thing, never a secret


class NotFound(DomainError):
    reason = "NOT_FOUND"


class NotAllowed(DomainError):
    """The caller is known but may not do this."""

    reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    """The caller could not be identified."""

    reason = "UNAUTHENTICATED"


class Conflict(DomainError):
    """The request clashes with what exists: it was already done, or differently."""

    reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    """Another request changed the same thing at the same moment; the whole call may be retried."""

    reason = "CONCURRENT_MODIFICATION"


class OutOfRange(DomainError):
    reason = "OUT_OF_RANGE"


class FailedPrecondition(DomainError):
    """The system is not in a state where this can be done, and retrying will not change that."""

    reason = "FAILED_PRECONDITION"


class Unavailable(DomainError):
    """Not possible yet, but soon without anyone acting: retry after `retry_after` seconds."""

    reason = "UNAVAILABLE"


class ResourceExhausted(DomainError):
    """The caller has as many calls open as they may: retry once one of them ends."""

    reason = "TOO_MANY_CALLS"


@dataclass(frozen=True)
class FieldViolation:
    field: str  # the proto field path, e.g. `amount.minor_units`
    description: str


class InvalidInput(DomainError):
    """The request itself is wrong: each violation names the proto field path it is about."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation], *, reason: str | None = None) -> None:
        super().__init__(
            "; ".join(f"{v.field}: {v.description}" for v in violations), reason=reason
        )
        self.violations = list(violations)

    @classmethod
    def of(cls, field_name: str, description: str, *, reason: str | None = None) -> InvalidInput:
        return cls([FieldViolation(field_name, description)], reason=reason)


class MalformedRequest(InvalidInput):
    """The request's bytes are not the method's protobuf message: no field can be named."""

    reason = "MALFORMED_REQUEST"

    def __init__(self) -> None:
        DomainError.__init__(self, "the request is not a valid protobuf message for this method")
        self.violations = []
