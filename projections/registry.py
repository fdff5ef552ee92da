"""Every projection in one table: what it is called, which view stores it, whether auditors
read it. The node runs, the CLI rebuilds, the metrics watch and AuditService streams what this
table names, so a new read model is one entry here (and its two modules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eventsourcing.projection import Projection

from ledger.view import RebuildableView
from projections.audit_projection import (
    QUEUE_ROWS,
    SEQUENCER_WAIT_SECONDS,
    STATISTICS_ROWS,
    TIMELINE_ROWS,
    AuditedProjections,
    AuditedRows,
)
from projections.queue import TransactionQueue
from projections.queue_view import QueueView
from projections.statistics import Statistics
from projections.statistics_view import StatisticsView
from projections.timeline import CitizenTimeline
from projections.timeline_view import TimelineView

V = TypeVar("V", bound=RebuildableView)


@dataclass(frozen=True)
class Registered(Generic[V]):
    projection: type[Projection[V]]
    view: type[V]
    audited: AuditedRows | None = None  # served by AuditService.StreamProjection

    @property
    def name(self) -> str:
        return self.projection.name


TIMELINE = Registered(CitizenTimeline, TimelineView, TIMELINE_ROWS)
QUEUE = Registered(TransactionQueue, QueueView, QUEUE_ROWS)
STATISTICS = Registered(Statistics, StatisticsView, STATISTICS_ROWS)

PROJECTIONS: Mapping[str, Registered[Any]] = {p.name: p for p in (TIMELINE, QUEUE, STATISTICS)}


def audited_projections(
    view_of: Callable[[str], RebuildableView], *, sequencer_wait: float = SEQUENCER_WAIT_SECONDS
) -> AuditedProjections:
    """The projections auditors may read, each over the view `view_of` gives for its name."""
    return AuditedProjections(
        {
            name: (view_of(name), entry.audited)
            for name, entry in PROJECTIONS.items()
            if entry.audited is not None
        },
        sequencer_wait=sequencer_wait,
    )
