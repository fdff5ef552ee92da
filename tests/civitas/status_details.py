"""Reading a refusal's `google.rpc` details, as a relying service would: by type, not position."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.descriptor import Descriptor
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


def field_path_resolves(request: Message, path: str) -> bool:
    """Whether a BadRequest field path (`amount.minor_units`, `documents[3]`) names a field of
    the request: each dotted part a field of the message the part before it holds."""
    descriptor: Descriptor | None = request.DESCRIPTOR  # type: ignore[assignment]
    for part in path.split("."):
        name = part.split("[", 1)[0]
        if descriptor is None or name not in descriptor.fields_by_name:
            return False
        descriptor = descriptor.fields_by_name[name].message_type
    return True
