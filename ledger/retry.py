"""Optimistic concurrency: decide again on fresh state when another request saved first.

`eventsourcing` refuses a save whose aggregate version was taken meanwhile (`IntegrityError`),
and writes nothing. A command that loads, decides and saves inside `attempt` can then simply be
run again: it sees the other request's events and decides on them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from ledger.errors import Aborted

T = TypeVar("T")

CONFLICT_RETRIES = 20  # each round of a race lets one request through: enough for busy citizens
# Up to 2 ms more per round, random, so that the requests of one race do not collide again.
JITTER_SECONDS = 0.002


def retry_on_conflict(
    attempt: Callable[[], T],
    *,
    what: str = "the citizen",
    retries: int = CONFLICT_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """The result of `attempt`, run again while its save loses a race to another request.

    Raises `Aborted` (CONCURRENT_MODIFICATION: the caller may retry the whole call) once
    `retries` attempts have all lost; *what* names the thing that kept changing.
    """
    for retry in range(retries):
        try:
            return attempt()
        except IntegrityError:
            sleep(random.uniform(0, JITTER_SECONDS) * retry)  # noqa: S311 - jitter, not secrecy
    raise Aborted(f"{what} changed concurrently; try again")
