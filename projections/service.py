"""Runs a projection in the background while this process holds its leader lock.

With several replicas on PostgreSQL each projection has exactly one runner at a time (an
advisory lock per projection); another replica takes over when the holder dies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner

from ledger.leader import LeaderLock, lead_while_running
from ledger.store import LOG_NAME
from projections.batching import BatchingProjection
from projections.reader import LedgerEvents

TICK_SECONDS = 0.2


@dataclass(frozen=True)
class ProjectionSettings:
    projection_class: type[Projection[Any]]
    view_class: type[TrackingRecorder]
    env: dict[str, str]
    leader_lock: Callable[[], LeaderLock]
    retry_interval: float = 1.0


class ProjectionService:
    def __init__(self, settings: ProjectionSettings) -> None:
        self._settings = settings
        self._stopping = threading.Event()
        name = settings.projection_class.name
        self._thread = threading.Thread(target=self._run, name=f"projection-{name}", daemon=True)

    @property
    def name(self) -> str:
        return self._settings.projection_class.name

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        lock = self._settings.leader_lock()
        lead_while_running(
            lock,
            self._stopping,
            lambda: self._follow(lock),
            name=f"{self.name} projection",
            retry_interval=self._settings.retry_interval,
        )

    def rebuild(
        self, reset: Callable[[], None], target_notification_id: int | None, timeout: float
    ) -> bool:
        """Replay from zero in the foreground; False when another process runs the projection."""
        return self.catch_up(target_notification_id, timeout, before=reset)

    def catch_up(
        self,
        target_notification_id: int | None,
        timeout: float,
        before: Callable[[], None] = lambda: None,
    ) -> bool:
        """Follow the log in the foreground up to a position; False when another process holds
        the projection."""
        lock = self._settings.leader_lock()
        if not lock.try_acquire():
            return False
        try:
            before()
            with self._runner() as runner:
                deadline = time.monotonic() + timeout
                projection = runner.projection
                while time.monotonic() < deadline:
                    runner.run_forever(timeout=TICK_SECONDS)
                    _flush(projection)
                    position = runner.view.max_tracking_id(LOG_NAME) or 0
                    if position >= (target_notification_id or 0):
                        break
        finally:
            lock.release()
        return True

    def _runner(self) -> ProjectionRunner[LedgerEvents, Any]:
        return ProjectionRunner(
            application_class=LedgerEvents,
            projection_class=self._settings.projection_class,
            view_class=self._settings.view_class,
            env=self._settings.env,
        )

    def _follow(self, lock: LeaderLock) -> None:
        with self._runner() as runner:
            while not self._stopping.is_set() and lock.still_held():
                runner.run_forever(timeout=TICK_SECONDS)
                _flush(runner.projection)
            _flush(runner.projection)


def _flush(projection: object) -> None:
    if isinstance(projection, BatchingProjection):
        projection.flush()
