"""Tests for identity.lockout: NIST SP 800-63B §5.2.2 throttling and locking, as pure arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.lockout import LockoutPolicy, is_locked, retry_after, throttle_delay

DEFAULT = LockoutPolicy()
LAST = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@st.composite
def policies(draw: st.DrawFn) -> LockoutPolicy:
    lock_after = draw(st.integers(min_value=1, max_value=100))
    base_ms = draw(st.integers(min_value=1, max_value=60_000))
    max_ms = draw(st.integers(min_value=base_ms, max_value=24 * 3_600_000))
    return LockoutPolicy(
        throttle_after=draw(st.integers(min_value=1, max_value=lock_after)),
        lock_after=lock_after,
        base_delay=timedelta(milliseconds=base_ms),
        max_delay=timedelta(milliseconds=max_ms),
    )


failure_counts = st.integers(min_value=0, max_value=200)
elapsed = st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(days=2))


# (consecutive failures, locked, delay after the last failure) for the default policy
DEFAULT_TABLE = [
    (0, False, timedelta(0)),
    (1, False, timedelta(0)),
    (4, False, timedelta(0)),
    (5, False, 1 * SECOND),  # the 5th failure starts the throttle
    (6, False, 2 * SECOND),
    (7, False, 4 * SECOND),
    (8, False, 8 * SECOND),
    (9, False, 16 * SECOND),
    (10, True, 32 * SECOND),  # the 10th failure locks
    (14, True, 512 * SECOND),
    (15, True, timedelta(minutes=15)),  # 1,024 s would exceed the cap
    (100, True, timedelta(minutes=15)),
]


@pytest.mark.parametrize(("failures", "locked", "delay"), DEFAULT_TABLE)
def test_default_policy_table(failures: int, locked: bool, delay: timedelta) -> None:
    assert is_locked(DEFAULT, failures) is locked
    assert throttle_delay(DEFAULT, failures) == delay
    assert retry_after(DEFAULT, failures, LAST, LAST) == delay


@pytest.mark.parametrize(
    ("failures", "since_last", "wait"),
    [
        (5, timedelta(milliseconds=400), timedelta(milliseconds=600)),
        (5, SECOND, timedelta(0)),
        (5, timedelta(hours=1), timedelta(0)),
        (9, 10 * SECOND, 6 * SECOND),
        (9, -timedelta(minutes=5), 16 * SECOND),  # clock stepped back: the full delay, no more
        (4, timedelta(0), timedelta(0)),
    ],
)
def test_retry_after_counts_down_from_the_last_failure(
    failures: int, since_last: timedelta, wait: timedelta
) -> None:
    assert retry_after(DEFAULT, failures, LAST, LAST + since_last) == wait


def test_no_last_failure_is_fine_only_before_the_throttle() -> None:
    assert retry_after(DEFAULT, 0, None, LAST) == timedelta(0)
    assert retry_after(DEFAULT, 4, None, LAST) == timedelta(0)
    with pytest.raises(ValueError, match="last failure"):
        retry_after(DEFAULT, 5, None, LAST)


def test_huge_exponents_are_capped_without_overflow() -> None:
    policy = LockoutPolicy(throttle_after=1, lock_after=100, max_delay=timedelta(days=1))
    assert throttle_delay(policy, 99) == timedelta(days=1)
    assert throttle_delay(policy, 10**6) == timedelta(days=1)
    assert throttle_delay(policy, 17) == timedelta(seconds=2**16)


def test_negative_failure_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        is_locked(DEFAULT, -1)
    with pytest.raises(ValueError, match="negative"):
        retry_after(DEFAULT, -1, None, LAST)


def test_nist_ceiling_is_allowed() -> None:
    assert is_locked(LockoutPolicy(lock_after=100), 100)
    assert not is_locked(LockoutPolicy(lock_after=100), 99)


@pytest.mark.parametrize(
    "arguments",
    [
        {"lock_after": 101},  # NIST SP 800-63B §5.2.2: at most 100 consecutive failures
        {"throttle_after": 11, "lock_after": 10},
        {"throttle_after": 0},
        {"lock_after": 0, "throttle_after": 0},
        {"throttle_after": -1},
        {"base_delay": timedelta(0)},
        {"base_delay": -SECOND},
        {"max_delay": timedelta(0)},
        {"base_delay": timedelta(minutes=20), "max_delay": timedelta(minutes=15)},
    ],
)
def test_policy_validation(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LockoutPolicy(**arguments)


# --- properties -------------------------------------------------------------------------------


@given(policies(), failure_counts, failure_counts)
def test_delay_is_monotonic_in_failures(policy: LockoutPolicy, a: int, b: int) -> None:
    fewer, more = sorted((a, b))
    assert throttle_delay(policy, fewer) <= throttle_delay(policy, more)


@given(policies(), failure_counts, failure_counts, elapsed)
def test_wait_is_monotonic_in_failures(
    policy: LockoutPolicy, a: int, b: int, since_last: timedelta
) -> None:
    fewer, more = sorted((a, b))
    now = LAST + since_last
    assert retry_after(policy, fewer, LAST, now) <= retry_after(policy, more, LAST, now)


@given(policies(), failure_counts, elapsed)
def test_wait_never_exceeds_the_maximum(
    policy: LockoutPolicy, failures: int, since_last: timedelta
) -> None:
    wait = retry_after(policy, failures, LAST, LAST + since_last)
    assert timedelta(0) <= wait <= throttle_delay(policy, failures) <= policy.max_delay


@given(policies(), failure_counts, elapsed, elapsed)
def test_wait_shrinks_as_time_passes(
    policy: LockoutPolicy, failures: int, a: timedelta, b: timedelta
) -> None:
    earlier, later = sorted((a, b))
    assert retry_after(policy, failures, LAST, LAST + later) <= retry_after(
        policy, failures, LAST, LAST + earlier
    )


@given(policies(), failure_counts)
def test_locked_exactly_from_lock_after(policy: LockoutPolicy, failures: int) -> None:
    assert is_locked(policy, failures) is (failures >= policy.lock_after)
    assert not is_locked(policy, policy.lock_after - 1)
    assert is_locked(policy, policy.lock_after)


@given(policies(), failure_counts, elapsed)
def test_no_wait_below_the_throttle(
    policy: LockoutPolicy, failures: int, since_last: timedelta
) -> None:
    if failures < policy.throttle_after:
        assert retry_after(policy, failures, None, LAST + since_last) == timedelta(0)
    else:
        assert throttle_delay(policy, failures) >= policy.base_delay
