"""Domain errors, raised anywhere and turned into gRPC statuses in one place (civitas/rpc.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


class DomainError(Exception):
    """Base of the errors a caller can act on; their messages never contain secrets."""


class NotFound(DomainError):
    pass


class NotAllowed(DomainError):
    """The caller is known but may not do this."""


class Unauthenticated(DomainError):
    """The caller could not be identified."""


class Conflict(DomainError):
    """The request clashes with the current state (already exists, changed meanwhile)."""


class OutOfRange(DomainError):
    """A position or size past the end of the log as it stands."""


class FailedPrecondition(DomainError):
    """The system is not in a state where this can be done (e.g. no checkpoint yet)."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class InvalidInput(DomainError):
    violations: list[FieldViolation] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def of(cls, field_name: str, description: str) -> InvalidInput:
        return cls([FieldViolation(field_name, description)])
