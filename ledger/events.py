"""The base of every aggregate whose events go into the ledger.

Two things set ledger aggregates apart from plain `eventsourcing` ones:
- every event names its `actor` (who caused it), which the signed entry carries;
- every event type has a stable name, `<package>.<Aggregate>.<Event>` (for example
  `identity.Citizen.TotpEnrolled`), used both as the entry's `type` and as the stored topic, so
  moving code between modules never changes what the ledger says.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic


def stable_name(cls: type) -> str:
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


def _register_stable_topic(cls: type) -> None:
    cls.TOPIC = stable_name(cls)  # type: ignore[attr-defined]
    register_topic(cls.TOPIC, cls)  # type: ignore[attr-defined]


class LedgerAggregate(Aggregate):
    """An aggregate whose events are signed ledger entries."""

    TOPIC: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # `eventsourcing` checks explicit topics inside its own __init_subclass__: set it first.
        cls.TOPIC = stable_name(cls)
        super().__init_subclass__(**kwargs)

    class Event(Aggregate.Event):
        TOPIC: ClassVar[str]
        actor: str

        def __init_subclass__(cls, **kwargs: Any) -> None:
            _register_stable_topic(cls)
            super().__init_subclass__(**kwargs)

    class Created(Event, Aggregate.Created):
        pass


_register_stable_topic(LedgerAggregate)
_register_stable_topic(LedgerAggregate.Event)
_register_stable_topic(LedgerAggregate.Created)

__all__ = ["UUID", "LedgerAggregate", "stable_name"]
