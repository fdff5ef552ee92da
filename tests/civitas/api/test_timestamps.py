"""google.protobuf.Timestamp at the gRPC edge: round trips, query bounds, out-of-range refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from civitas.api.timestamps import MAX_NANOS, MAX_SECONDS, MIN_SECONDS, bound_from, to_timestamp
from ledger.errors import InvalidInput

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(moments)
def test_a_moment_survives_the_wire(moment: datetime) -> None:
    sent = Timestamp.FromString(to_timestamp(moment).SerializeToString())
    assert sent.ToDatetime(UTC) == moment
    # The epoch itself is the zero Timestamp, which as a bound means "none".
    expected = None if sent == Timestamp() else moment
    assert bound_from("since", sent, present=True) == expected


def test_other_offsets_mean_the_same_instant_and_naive_times_are_refused() -> None:
    helsinki = datetime(2026, 11, 23, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_timestamp(helsinki) == Timestamp(seconds=1_795_424_400)
    with pytest.raises(ValueError, match="aware"):
        to_timestamp(datetime(2026, 11, 23, 9, 0))  # naive: which instant it is, nobody knows


def test_unset_or_zero_is_no_bound() -> None:
    assert bound_from("since", Timestamp(), present=False) is None
    assert bound_from("since", Timestamp(), present=True) is None
    # Unset wins even over values a client could not have meant to send.
    assert bound_from("until", Timestamp(nanos=-1), present=False) is None


@pytest.mark.parametrize(
    ("stamp", "field"),
    [
        (Timestamp(seconds=1, nanos=-1), "since.nanos"),
        (Timestamp(seconds=1, nanos=MAX_NANOS + 1), "since.nanos"),
        (Timestamp(nanos=-(2**31)), "since.nanos"),
        (Timestamp(seconds=MIN_SECONDS - 1), "since.seconds"),
        (Timestamp(seconds=MAX_SECONDS + 1), "since.seconds"),
        (Timestamp(seconds=2**63 - 1), "since.seconds"),
        (Timestamp(seconds=-(2**63)), "since.seconds"),
        (Timestamp(seconds=MAX_SECONDS, nanos=MAX_NANOS), "since.nanos"),  # rounds past 9999
    ],
)
def test_out_of_range_is_invalid_input_naming_the_part(stamp: Timestamp, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        bound_from("since", stamp, present=True)
    assert [v.field for v in raised.value.violations] == [field]


def test_the_ends_of_the_range_are_accepted() -> None:
    assert bound_from("since", Timestamp(seconds=MIN_SECONDS), present=True) == datetime(
        1, 1, 1, tzinfo=UTC
    )
    last = bound_from("until", Timestamp(seconds=MAX_SECONDS, nanos=999_999_000), present=True)
    assert last == datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@given(
    recorded=st.integers(0, 4_000_000_000 * 10**6),  # an entry's time, in microseconds
    seconds=st.integers(1, 4_000_000_000),
    nanos=st.integers(0, MAX_NANOS),
)
def test_rounding_up_keeps_both_bounds_exact(recorded: int, seconds: int, nanos: int) -> None:
    """The ledger records microseconds; a bound may carry nanoseconds. For every entry, the
    microsecond bound decides `since <= at` and `at < until` as the nanosecond one would."""
    bound = bound_from("since", Timestamp(seconds=seconds, nanos=nanos), present=True)
    assert bound is not None
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=recorded)
    exact = seconds * 10**9 + nanos
    assert (at >= bound) == (recorded * 1000 >= exact)
    assert (at < bound) == (recorded * 1000 < exact)
