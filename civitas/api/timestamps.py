"""Times at the gRPC edge: aware datetimes to and from `google.protobuf.Timestamp`.

The API's times are Timestamps (a relying service's generated code turns them into its
language's own time type); the signed payloads keep their RFC 3339 strings (ledger-format.md).
A Timestamp from the wire is checked against the range the type itself defines (0001-01-01 to
9999-12-31, nanos below 10^9): anything else is no time at all and is refused naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from ledger.errors import InvalidInput

# google/protobuf/timestamp.proto: "Range is from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z".
MIN_SECONDS: Final = -62_135_596_800
MAX_SECONDS: Final = 253_402_300_799
MAX_NANOS: Final = 999_999_999
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def to_timestamp(moment: datetime) -> Timestamp:
    if moment.tzinfo is None:
        raise ValueError("a Timestamp is made from an aware datetime only")
    # What `Timestamp.FromDatetime` computes, at a fraction of its cost (every sign-in's answer
    # carries one): timedelta keeps seconds and microseconds non-negative, as Timestamp does.
    since = moment - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def optional_timestamp(moment: datetime | None) -> Timestamp | None:
    """None stays None: the field is left unset (a time that has not happened yet)."""
    return None if moment is None else to_timestamp(moment)


def bound_from(field: str, stamp: Timestamp, present: bool) -> datetime | None:
    """A query bound from the wire: None when unset or zero (no bound), else the UTC datetime.

    Nanoseconds are rounded up to the microsecond. The ledger records microseconds, so for an
    entry at microsecond t: t >= since exactly when t >= ceil(since), and t < until exactly when
    t < ceil(until): rounding up keeps both an inclusive and an exclusive bound exact.
    """
    if not present or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    if not MIN_SECONDS <= stamp.seconds <= MAX_SECONDS:
        raise InvalidInput.of(f"{field}.seconds", "outside 0001-01-01 to 9999-12-31")
    if not 0 <= stamp.nanos <= MAX_NANOS:
        raise InvalidInput.of(f"{field}.nanos", f"from 0 to {MAX_NANOS}")
    micros = -(-stamp.nanos // 1000)  # ceiling division
    try:
        return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=micros)
    except OverflowError:  # 9999-12-31T23:59:59.999999001Z rounds past the last datetime
        raise InvalidInput.of(f"{field}.nanos", "rounds past 9999-12-31") from None
