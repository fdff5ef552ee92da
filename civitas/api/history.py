"""HistoryService: the citizen's own history over gRPC (the caller is the citizen)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc

from civitas.api.authorization import citizen_of, current_caller
from civitas.api.timestamps import bound_from, to_timestamp
from projections.history import History
from projections.timeline_view import TimelineItem
from protos.civitas.v1 import history_pb2 as pb
from protos.civitas.v1 import history_pb2_grpc


class HistoryServicer(history_pb2_grpc.HistoryServiceServicer):
    def __init__(self, history: History) -> None:
        self._history = history

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

    def WatchMyHistory(
        self, request: pb.WatchMyHistoryRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.HistoryItem]:
        items = self._history.watch(
            _citizen(), request.after_position, list(request.kinds), context.is_active
        )
        for item in items:
            yield _item(item)


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
