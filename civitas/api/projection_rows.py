"""AuditService's StreamProjection: the audited read models' rows as protobuf messages."""

from __future__ import annotations

from collections.abc import Iterator

from projections.audit_projection import (
    AuditedProjections,
    AuditedQueueRow,
    AuditedTimelineRow,
    ProjectionPosition,
)
from protos.civitas.v1 import audit_pb2 as pb

# Rows per message: gRPC's cost per message, not per byte, dominates small rows (measured).
ROWS_PER_MESSAGE = 256
# ... and bytes per message (issue 14): rows recorded before requests were bounded can be
# megabytes each, and 256 of them broke every client's 4 MiB receive limit. A row is never cut
# (the auditor compares it with the ledger byte for byte): one larger than this goes alone.
MESSAGE_BUDGET_BYTES = 1024 * 1024


class ProjectionRowStream:
    def __init__(self, projections: AuditedProjections) -> None:
        self._projections = projections

    def stream(self, name: str) -> Iterator[pb.ProjectionRows]:
        batch, used = pb.ProjectionRows(), 0
        for row in self._projections.stream(name):
            if isinstance(row, ProjectionPosition):
                yield pb.ProjectionRows(position=_position(row))
                continue
            if isinstance(row, AuditedQueueRow):
                queued = _queue_row(row)
                batch.queue.append(queued)
                used += queued.ByteSize()
            else:
                recorded = _timeline_row(row)
                batch.timeline.append(recorded)
                used += recorded.ByteSize()
            rows = len(batch.queue) + len(batch.timeline)
            if rows == ROWS_PER_MESSAGE or used >= MESSAGE_BUDGET_BYTES:
                yield batch
                batch, used = pb.ProjectionRows(), 0
        if batch.queue or batch.timeline:
            yield batch


def _position(position: ProjectionPosition) -> pb.ProjectionPosition:
    return pb.ProjectionPosition(
        name=position.name, tree_size=position.tree_size, notification_id=position.notification_id
    )


def _queue_row(row: AuditedQueueRow) -> pb.QueueProjectionRow:
    return pb.QueueProjectionRow(
        transaction_id=row.transaction_id,
        reference=row.reference,
        service_code=row.service_code,
        agency=row.agency,
        citizen_id=row.citizen_id,
        status=row.status,
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
    )


def _timeline_row(row: AuditedTimelineRow) -> pb.TimelineProjectionRow:
    return pb.TimelineProjectionRow(
        citizen_id=row.citizen_id,
        leaf_index=row.leaf_index,
        notification_id=row.notification_id,
        at=row.at,
        kind=row.kind,
        type=row.type,
        stream=row.stream,
        version=row.version,
        summary_json=row.summary_json,
    )
