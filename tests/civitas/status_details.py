"""Reading a refusal's `google.rpc` details, as a relying service would: by type, not position."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DetailT = TypeVar("DetailT", bound=Message)


def status_of(error: grpc.RpcError | status_pb2.Status) -> status_pb2.Status:
    if isinstance(error, status_pb2.Status):
        return error
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error!r}"
    return status


def detail(error: grpc.RpcError | status_pb2.Status, kind: type[DetailT]) -> DetailT | None:
    """The first detail of `kind`, or None."""
    for packed in status_of(error).details:
        found = kind()
        if packed.Unpack(found):
            return found
    return None


def reason(error: grpc.RpcError | status_pb2.Status) -> str:
    """ErrorInfo.reason, after checking that the detail is there and in Civitas's domain."""
    info = detail(error, error_details_pb2.ErrorInfo)
    assert info is not None, "the refusal carries no ErrorInfo"
    assert info.domain == "civitas"
    return str(info.reason)
