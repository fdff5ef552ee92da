"""A projection killed mid-stream (SIGKILL) resumes with nothing skipped and nothing repeated."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from civitas.config import build_config
from civitas.node import Node
from ledger.data_access import DataAccess
from tests.civitas.server_process import civitas_command


def test_sigkill_mid_stream_then_resume_equals_a_rebuild(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    node = Node(build_config(data_dir=str(data_dir), database=database_url, environ={}))
    node.initialise("civitas.test/log")
    node.upgrade_schema()
    citizens = [f"00000000-0000-4000-8000-{n:012d}" for n in range(20)]
    for start in range(0, 1500, 150):  # 1,500 data-access events spread over 20 citizens
        node.data_access.save(
            *(
                DataAccess(
                    citizens[n % 20], "tax", f"check {n}", "personal data", actor="service:t"
                )
                for n in range(start, start + 150)
            )
        )
    command = civitas_command(data_dir, database_url, "projections", "run", "timeline")
    view = node.timeline_view
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = view.max_tracking_id("ledger") or 0
        deadline = time.monotonic() + 30
        while (
            (view.max_tracking_id("ledger") or 0) == before
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        if process.poll() is None and (view.max_tracking_id("ledger") or 0) < 1500:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 1, "the projection finished before it could be killed"
    subprocess.run(command, check=True, timeout=120)

    resumed = {c: view.items(c, limit=500) for c in citizens}
    assert sum(len(items) for items in resumed.values()) == 1500  # none skipped, none twice
    timeline = next(p for p in node.projections() if p.name == "timeline")
    assert timeline.rebuild(view.reset, node.store.recorder.max_notification_id(), 60)
    assert {c: view.items(c, limit=500) for c in citizens} == resumed
    node.close()
