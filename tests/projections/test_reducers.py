"""Reducer tables: a projection reads only the events its table names, and its tracked position
still reaches the end of the log past every event it skips."""

from __future__ import annotations

import pytest

from civitas.node import Node
from ledger.data_access import DataAccess
from ledger.store import LOG_NAME
from projections.batching import BatchingProjection
from projections.queue import TransactionQueue
from projections.statistics import Statistics
from projections.timeline import CitizenTimeline
from tests.projections.test_timeline import signed_in_citizen

ACTOR = "service:tax-portal"
CITIZEN = "00000000-0000-4000-8000-000000000001"
# More than one filtered read (`ListenNotifySubscription` selects 500 at a time).
SKIPPED = 1100


def record_accesses(node: Node, count: int) -> None:
    """Events the queue does not handle, saved in one go."""
    accesses = [DataAccess(CITIZEN, "tax", "audit", f"r{i}", actor=ACTOR) for i in range(count)]
    node.data_access.save(*accesses)


def rebuild_queue(node: Node) -> int:
    queue = next(p for p in node.projections() if p.name == TransactionQueue.name)
    head = node.store.recorder.max_notification_id() or 0
    assert queue.rebuild(node.queue_view.reset, head, 60)
    return head


@pytest.mark.parametrize("projection", [TransactionQueue, Statistics, CitizenTimeline])
def test_topics_are_the_reducer_tables_keys(projection: type[BatchingProjection[object]]) -> None:  # type: ignore[type-var]
    assert projection.topics == tuple(projection.reducers)
    assert all(topic.count(".") == 2 for topic in projection.topics)  # stable event names


def test_a_log_of_only_skipped_events_leaves_the_position_at_its_end(node: Node) -> None:
    record_accesses(node, SKIPPED)
    head = rebuild_queue(node)
    assert head >= SKIPPED
    assert node.queue_view.max_tracking_id(LOG_NAME) == head
    assert node.queue_view.queue("tax", [], "", 10) == []


def test_handled_events_between_skipped_ones_are_projected(node: Node) -> None:
    citizen = signed_in_citizen(node, "Q-1")
    record_accesses(node, 600)
    submitted = node.transactions.submit(
        "records", "k-1", "records.request", citizen, None, None, [], "", ACTOR
    )
    record_accesses(node, 600)
    head = rebuild_queue(node)
    assert node.queue_view.max_tracking_id(LOG_NAME) == head
    rows = node.queue_view.queue("records", [], "", 10)
    assert [(row.transaction_id, row.status) for row in rows] == [(submitted.id, "SUBMITTED")]
