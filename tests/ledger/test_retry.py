"""The one retry-on-conflict helper: a lost race is decided again, endless ones end in ABORTED."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.errors import Aborted
from ledger.retry import CONFLICT_RETRIES, JITTER_SECONDS, retry_on_conflict


class Races:
    """An attempt that loses its first *losses* saves, counting every call."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.losses:
            raise IntegrityError("another request saved first")
        return "saved"


def test_a_first_success_is_returned_without_sleeping() -> None:
    slept: list[float] = []
    attempt = Races(0)
    assert retry_on_conflict(attempt, sleep=slept.append) == "saved"
    assert attempt.calls == 1
    assert slept == []


def test_lost_races_are_run_again_with_growing_jitter() -> None:
    slept: list[float] = []
    attempt = Races(3)
    assert retry_on_conflict(attempt, sleep=slept.append) == "saved"
    assert attempt.calls == 4
    assert len(slept) == 3
    for retry, pause in enumerate(slept):
        assert 0 <= pause <= JITTER_SECONDS * retry
    assert slept[0] == 0  # the first retry follows at once


def test_retries_that_run_out_end_in_aborted() -> None:
    attempt = Races(CONFLICT_RETRIES)
    with pytest.raises(Aborted, match=r"^the session changed concurrently; try again$") as caught:
        retry_on_conflict(attempt, what="the session", sleep=lambda _: None)
    assert caught.value.reason == "CONCURRENT_MODIFICATION"
    assert attempt.calls == CONFLICT_RETRIES


def test_the_number_of_retries_is_the_callers() -> None:
    attempt = Races(5)
    with pytest.raises(Aborted, match="the citizen changed"):
        retry_on_conflict(attempt, retries=5, sleep=lambda _: None)
    assert attempt.calls == 5
    assert retry_on_conflict(Races(4), retries=5, sleep=lambda _: None) == "saved"


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def refused() -> str:
        calls.append(1)
        raise Aborted("a decision, not a race")

    with pytest.raises(Aborted, match="a decision"):
        retry_on_conflict(refused, sleep=lambda _: None)
    assert calls == [1]
