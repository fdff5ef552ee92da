"""How ledger applications keep and collect aggregates without repeating work (issue 14).

Measured on a TOTP sign-in (benchmarks/growth.py, /tmp profiles in the issue): before, each RPC
loaded the citizen from its whole stream, re-checking every signature; `copy.deepcopy` of a
cached citizen costs about twice a pickle round trip; `eventsourcing`'s `collect_events` tests
every saved object against two `runtime_checkable` Protocols, the slowest `isinstance` there is.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent, Repository
from eventsourcing.domain import Aggregate

T = TypeVar("T")


def copy_aggregate(aggregate: T) -> T:
    """A private copy of one of our own in-memory aggregates (never of bytes read from the
    database: those are decoded by the signed mapper)."""
    copied: T = pickle.loads(pickle.dumps(aggregate, pickle.HIGHEST_PROTOCOL))  # noqa: S301
    return copied


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """`eventsourcing`'s `project_aggregate` without its per-event `isinstance` against a
    runtime Protocol: every event here is a `LedgerAggregate` event or a `Snapshot`, decoded by
    our own mappers, and each has `mutate`."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class CachedRepository(Repository[UUID]):
    """`eventsourcing`'s repository with its cache copied out by `copy_aggregate`, so a command
    that changes an aggregate and then fails leaves the cached one as stored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs, deepcopy_from_cache=False)

    def get(self, aggregate_id: UUID, **kwargs: Any) -> Any:
        kwargs.setdefault("projector_func", project)
        aggregate = super().get(aggregate_id, **kwargs)
        if self.cache is not None and kwargs.get("version") is None:
            return copy_aggregate(aggregate)
        return aggregate


class Collected(ProcessingEvent[UUID]):
    """A save's events and aggregates, collected with a plain class check for aggregates."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)
