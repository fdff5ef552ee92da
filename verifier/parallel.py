"""An ordered map over worker processes with a bounded number of chunks in flight.

Results come back in submission order, because the tree and the version check consume leaves in
log order. At most ``in_flight`` chunks are queued, so memory stays bounded however long the log.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")


def default_jobs() -> int:
    """One worker per core the process may use: Ed25519 verification is CPU-bound."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def ordered_map(
    function: Callable[..., Result],
    argument_tuples: Iterable[tuple[Any, ...]],
    *,
    jobs: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    start_method: str = "fork",
) -> Iterator[Result]:
    """``function(*arguments)`` for each tuple, in order, on ``jobs`` processes (1: in-process)."""
    if jobs <= 1:
        initializer(*initargs)
        for arguments in argument_tuples:
            yield function(*arguments)
        return
    # Two chunks per worker keep every core busy while the parent folds the previous result.
    in_flight = 2 * jobs
    context = multiprocessing.get_context(start_method)
    pending: deque[Future[Result]] = deque()
    with ProcessPoolExecutor(jobs, context, initializer, initargs) as pool:
        try:
            for arguments in argument_tuples:
                pending.append(pool.submit(function, *arguments))
                if len(pending) >= in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
