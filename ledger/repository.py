"""How ledger applications keep and collect aggregates without repeating work (issue 14).

Measured on a TOTP sign-in (benchmarks/growth.py, /tmp profiles in the issue): before, each RPC
loaded the citizen from its whole stream, re-checking every signature; `copy.deepcopy` of a
cached citizen costs about twice a pickle round trip; `eventsourcing`'s `collect_events` tests
every saved object against two `runtime_checkable` Protocols, the slowest `isinstance` there is.
"""

from __future__ import annotations

import pickle
import threading
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
    """A cache of aggregates, each brought up to date from the store on every read and copied
    out by `copy_aggregate`, so a command that changes an aggregate and then fails leaves the
    cached one as stored.

    Unlike `eventsourcing`'s own, the copy is made under the aggregate's lock, so it never
    catches another thread's fast-forward half done."""

    STRIPES = 64  # locks, each shared by the aggregates whose ids hash to it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs, deepcopy_from_cache=False)
        self._locks = [threading.Lock() for _ in range(self.STRIPES)]

    def get(self, aggregate_id: UUID, **kwargs: Any) -> Any:
        kwargs.setdefault("projector_func", project)
        if self.cache is None or kwargs.get("version") is not None:
            return super().get(aggregate_id, **kwargs)
        lock = self._locks[hash(aggregate_id) % self.STRIPES]
        with lock:
            cached = self._cached_copy(aggregate_id)
        # The store is read outside the lock: a slow or unreachable database then holds up
        # this call alone, not every caller of the aggregates that share the lock (all the
        # requests of one service account, say, during a PostgreSQL restart).
        if cached is None:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, kwargs["projector_func"])
        else:
            newer = self.event_store.get(originator_id=aggregate_id, gt=cached.version)
            aggregate = kwargs["projector_func"](cached, newer)
        with lock:
            current = self._cached_copy(aggregate_id, copy=False)
            if current is None or current.version < aggregate.version:
                self.cache.put(aggregate_id, copy_aggregate(aggregate))
        return aggregate

    def _cached_copy(self, aggregate_id: UUID, *, copy: bool = True) -> Any:
        assert self.cache is not None
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            return None
        return copy_aggregate(cached) if copy else cached


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
