"""HistoryService: the citizen's own history over gRPC (the caller is the citizen); a watch
wakes only when her own timeline grows (civitas/api/change_waiter.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc

from civitas.api.authorization import citizen_of, current_caller
from civitas.api.change_waiter import ChangeWaiters
from civitas.api.rechecked_stream import WatchContext
from civitas.api.timestamps import bound_from, to_timestamp
from projections.history import History
from projections.timeline_view import TimelineItem
from protos.civitas.v1 import history_pb2 as pb
from protos.civitas.v1 import history_pb2_grpc


class HistoryServicer(history_pb2_grpc.HistoryServiceServicer):
    def __init__(self, history: History) -> None:
        self._history = history
        self._changes = ChangeWaiters(history.changes)

    def ListMyHistory(
        self, request: pb.ListMyHistoryRequest, context: grpc.ServicerContext
    ) -> pb.ListMyHistoryResponse:
        page = self._history.list(
            _citizen(),
            list(request.kinds),
            bound_from("since", request.since, request.HasField("since")),
            bound_from("until", request.until, request.HasField("until")),
            request.page_size,
            request.page_token,
        )
        return pb.ListMyHistoryResponse(
            items=[_item(i) for i in page.items], next_page_token=page.next_page_token
        )

    def GetReceipt(
        self, request: pb.GetReceiptRequest, context: grpc.ServicerContext
    ) -> pb.Receipt:
        receipt = self._history.receipt(_citizen(), request.stream, request.version)
        return pb.Receipt(json=json.dumps(receipt))

    async def WatchMyHistory(  # the async form grpc.aio runs
        self, request: pb.WatchMyHistoryRequest, context: WatchContext
    ) -> AsyncIterator[pb.HistoryItem]:
        """Items after `after_position`, then each new one as the timeline records it. Idle,
        it is a suspended coroutine waiting for the change feed to name its citizen, not a
        thread; other citizens' writes do not wake it."""
        citizen, kinds = _citizen(), list(request.kinds)
        position = self._history.watch_start(request.after_position, kinds)
        with self._changes.watching(citizen) as changes:
            read_at = None  # the citizen's generation when her timeline was last read
            while await context.active():
                if read_at == changes.generation:  # nothing new: only the recheck was due
                    await context.idle(changes, read_at)
                    continue
                read_at = changes.generation
                items = await asyncio.to_thread(self._history.items_after, citizen, position, kinds)
                for item in items:
                    yield _item(item)
                if items:
                    position = items[-1].position
                    read_at = None  # a full page may have more behind it: read again at once


def _citizen() -> str:
    return citizen_of(current_caller())


def _item(item: TimelineItem) -> pb.HistoryItem:
    return pb.HistoryItem(
        position=item.position,
        at=to_timestamp(item.at),
        kind=item.kind,
        type=item.type,
        stream=item.stream,
        version=item.version,
        summary_json=json.dumps(item.summary, sort_keys=True),
    )
