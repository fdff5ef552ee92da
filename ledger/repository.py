"""How ledger applications keep and collect aggregates without repeating work (issue 14).

Measured on a TOTP sign-in (benchmarks/growth.py, /tmp profiles in the issue): before, each RPC
loaded the citizen from its whole stream, re-checking every signature; `copy.deepcopy` of a
cached citizen costs about twice a pickle round trip; `eventsourcing`'s `collect_events` tests
every saved object against two `runtime_checkable` Protocols, the slowest `isinstance` there is.

The cache keeps each aggregate pickled (`Frozen`), not as an object: a save then pickles once
and a read unpickles once, where keeping objects took a full round trip (pickle and unpickle)
each way. Copying was the largest single item of a sign-in under load
(docs/decisions/totp-sign-in-profile.md).
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple, cast
from uuid import UUID

from eventsourcing.application import ProcessingEvent, Repository
from eventsourcing.domain import Aggregate


class Frozen(NamedTuple):
    """An aggregate as the cache keeps it: its version, and its pickle, which nobody can change
    in place (each read unpickles an object of its own)."""

    version: int
    pickled: bytes

    @classmethod
    def of(cls, aggregate: Any) -> Frozen:
        """Of one of our own in-memory aggregates (never of bytes read from the database:
        those are decoded by the signed mapper)."""
        return cls(aggregate.version, pickle.dumps(aggregate, pickle.HIGHEST_PROTOCOL))

    def thaw(self) -> Any:
        return pickle.loads(self.pickled)  # noqa: S301 - our own pickle, made by `of`


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """`eventsourcing`'s `project_aggregate` without its per-event `isinstance` against a
    runtime Protocol: every event here is a `LedgerAggregate` event or a `Snapshot`, decoded by
    our own mappers, and each has `mutate`."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class CachedRepository(Repository[UUID]):
    """A cache of aggregates, each brought up to date from the store on every read and kept
    `Frozen`, so a command that changes the object it read and then fails leaves the cached
    one as stored.

    Unlike `eventsourcing`'s own, the cache is read and written under the aggregate's lock,
    and a newer version is never replaced by an older one."""

    STRIPES = 64  # locks, each shared by the aggregates whose ids hash to it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs, deepcopy_from_cache=False)
        self._locks = [threading.Lock() for _ in range(self.STRIPES)]

    def get(self, aggregate_id: UUID, **kwargs: Any) -> Any:
        kwargs.setdefault("projector_func", project)
        if self.cache is None or kwargs.get("version") is not None:
            return super().get(aggregate_id, **kwargs)
        with self._lock_of(aggregate_id):
            frozen = self._frozen(aggregate_id)
        # The store is read outside the lock: a slow or unreachable database then holds up
        # this call alone, not every caller of the aggregates that share the lock (all the
        # requests of one service account, say, during a PostgreSQL restart).
        if frozen is None:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, kwargs["projector_func"])
        else:
            newer = list(self.event_store.get(originator_id=aggregate_id, gt=frozen.version))
            aggregate = kwargs["projector_func"](frozen.thaw(), newer)
            if not newer:
                return aggregate  # the cache has this version already
        self.remember(aggregate)
        return aggregate

    def remember(self, aggregate: Any) -> None:
        """Keep *aggregate* as it is now (just saved, or just read up to date), unless the
        cache holds a newer version already."""
        if self.cache is None:
            return
        frozen = Frozen.of(aggregate)  # pickled outside the lock the other readers share
        with self._lock_of(aggregate.id):
            current = self._frozen(aggregate.id)
            if current is None or current.version < frozen.version:
                # The cache is typed for aggregates; this one holds them `Frozen`.
                self.cache.put(aggregate.id, cast(Any, frozen))

    def _lock_of(self, aggregate_id: UUID) -> threading.Lock:
        return self._locks[hash(aggregate_id) % self.STRIPES]

    def _frozen(self, aggregate_id: UUID) -> Frozen | None:
        assert self.cache is not None
        try:
            frozen: object = self.cache.get(aggregate_id)
        except KeyError:
            return None
        return cast(Frozen, frozen)


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
