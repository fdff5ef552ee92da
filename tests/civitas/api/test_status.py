"""The one place domain errors become gRPC statuses: a status fits in the call's trailers
whatever the input. (Found by the RPC fuzz, tests/civitas/test_fuzz.py: an unknown status or kind
quoted whole, or one violation per item of a long list, made trailers past gRPC's limit, and the
caller got RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT with its field violations.)"""

from __future__ import annotations

from google.rpc import code_pb2, error_details_pb2

from civitas.api.status import MAX_VIOLATIONS, status_for
from ledger.errors import FieldViolation, InvalidInput, NotFound

TRAILER_BUDGET = 8 * 1024  # gRPC's default soft limit for all metadata of a call


def test_a_status_stays_small_whatever_the_input() -> None:
    violations = [FieldViolation(f"documents[{i}]", "é" * 10_000) for i in range(1000)]
    status = status_for(InvalidInput(violations), "fr")
    # grpc-status-details-bin is base64; grpc-message percent-encodes each non-ASCII byte.
    details_bin = len(status.SerializeToString()) * 4 / 3
    message = len(status.message.encode()) * 3
    assert details_bin + message < TRAILER_BUDGET
    bad_request = error_details_pb2.BadRequest()
    assert status.details[-1].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [
        f"documents[{i}]" for i in range(MAX_VIOLATIONS)
    ]
    assert status.code == code_pb2.INVALID_ARGUMENT


def test_a_short_status_is_left_whole() -> None:
    status = status_for(InvalidInput.of("page_size", "between 1 and 500"))
    assert status.message == "page_size: between 1 and 500"
    assert status_for(NotFound("no such transaction")).message == "no such transaction"


def test_a_long_message_is_cut_at_a_character() -> None:
    status = status_for(NotFound("ü" * 5000))
    assert len(status.message.encode()) <= 512
    assert status.message.endswith("…")
    assert set(status.message[:-1]) == {"ü"}
