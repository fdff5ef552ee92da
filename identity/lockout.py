"""Throttling of authentication attempts, derived from the count of consecutive failures.

NIST SP 800-63B §5.2.2: the verifier "SHALL limit consecutive failed authentication attempts on a
single account to no more than 100", and may slow an attacker down before that by making the
claimant wait between attempts. Nothing here is stored: the aggregate keeps the count of
consecutive failures and the time of the last one (both follow from its events), and asks these
functions what they imply at the current time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Final

# §5.2.2: "no more than 100" consecutive failures.
NIST_MAX_CONSECUTIVE_FAILURES: Final = 100

_ZERO: Final = datetime.timedelta(0)


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """From the `throttle_after`-th consecutive failure each further attempt waits
    ``base_delay * 2**(failures - throttle_after)``, capped at `max_delay`; the `lock_after`-th
    failure locks the factor until it is unlocked by other means (recovery, an officer)."""

    throttle_after: int = 5
    lock_after: int = 10
    base_delay: datetime.timedelta = datetime.timedelta(seconds=1)
    max_delay: datetime.timedelta = datetime.timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.throttle_after < 1 or self.lock_after < 1:
            raise ValueError("throttle_after and lock_after must be positive")
        if self.lock_after > NIST_MAX_CONSECUTIVE_FAILURES:
            raise ValueError("lock_after must be at most 100 (NIST SP 800-63B §5.2.2)")
        if self.throttle_after > self.lock_after:
            raise ValueError("throttle_after must not exceed lock_after")
        if self.base_delay <= _ZERO or self.max_delay <= _ZERO:
            raise ValueError("base_delay and max_delay must be positive")
        if self.base_delay > self.max_delay:
            raise ValueError("base_delay must not exceed max_delay")


def is_locked(policy: LockoutPolicy, consecutive_failures: int) -> bool:
    """True from the `lock_after`-th consecutive failure on."""
    _check_count(consecutive_failures)
    return consecutive_failures >= policy.lock_after


def throttle_delay(policy: LockoutPolicy, consecutive_failures: int) -> datetime.timedelta:
    """The wait imposed after *consecutive_failures* failures, counted from the last one."""
    _check_count(consecutive_failures)
    if consecutive_failures < policy.throttle_after:
        return _ZERO
    exponent = consecutive_failures - policy.throttle_after
    # Integer microseconds: 2**95 seconds would overflow timedelta long before the cap applies.
    base = _microseconds(policy.base_delay)
    cap = _microseconds(policy.max_delay)
    # base << exponent > cap once exponent reaches cap's bit length, since base >= 1.
    if exponent >= cap.bit_length():
        return policy.max_delay
    return datetime.timedelta(microseconds=min(base << exponent, cap))


def retry_after(
    policy: LockoutPolicy,
    consecutive_failures: int,
    last_failure_at: datetime.datetime | None,
    now: datetime.datetime,
) -> datetime.timedelta:
    """Zero if an attempt may be made at *now*; otherwise how long the claimant must still wait.

    Only spacing: a locked factor (`is_locked`) refuses every attempt whatever this returns, so
    check the lock first. For a locked count the delay simply continues its capped growth, so the
    function stays total and monotonic across the lock.
    """
    delay = throttle_delay(policy, consecutive_failures)
    if delay == _ZERO:
        return _ZERO
    if last_failure_at is None:
        raise ValueError("a throttled failure count needs the time of the last failure")
    elapsed = now - last_failure_at
    # max(elapsed, 0): if the clock stepped back, wait the full delay, never longer.
    return delay - min(max(elapsed, _ZERO), delay)


def _check_count(consecutive_failures: int) -> None:
    if consecutive_failures < 0:
        raise ValueError("consecutive_failures must not be negative")


def _microseconds(delta: datetime.timedelta) -> int:
    return delta // datetime.timedelta(microseconds=1)
