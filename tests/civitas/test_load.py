"""Load: 64 concurrent clients run the mixed-RPC workload against a real `civitas serve`, on
SQLite and on PostgreSQL (issue 6: "zero INTERNAL/UNKNOWN errors, memory stable").

CI runs it for 10 s; the issue's full run is a minute (`-s` prints the figures):

    CIVITAS_LOAD_SECONDS=60 .venv/bin/pytest -s -m load tests/civitas/test_load.py

Memory is the server's resident set (VmRSS in /proc/PID/status), sampled five times a second
through the run, and, at the end of each third of it, at rest: the clients hold between calls
(`Workload.paused`) and the smallest sample of the next second counts. At rest, because under
load the resident set is mostly work in flight: every password check is an Argon2id hash over
19 MiB, one per busy worker thread, and it swings between ~90 and ~700 MiB with how many overlap.
For the same reason the server runs with `MALLOC_MMAP_THRESHOLD_` at 1 MiB: glibc would keep
those freed blocks in its per-thread arenas, and the resident set at rest would show how many
hashes once overlapped rather than what the server keeps.

The first third is warm-up: worker threads start, database connections and their page caches
fill. After it the resting set holds still: measured here from the second rest to the last,
+1 to +2 MiB in 10 s runs and +0.3 MiB in a 60 s run, on SQLite and PostgreSQL alike. The bound
is 8 MiB: four times the most seen, and crossed by a leak of ~16 KiB per call in the 10 s run,
or ~2.5 KiB per call in the 60 s run (~150 calls/s, 3.3 s and 20 s between those rests).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from civitas.workload import Workload, WorkloadResult, WorkloadSettings
from tests.civitas.server_process import ServerProcess, add_account, civitas

LOAD_SECONDS = float(os.environ.get("CIVITAS_LOAD_SECONDS", "10"))
CLIENTS = 64
AGENCIES = ("tax", "building", "social")
SAMPLE_SECONDS = 0.2
REST_SECONDS = 1.0
MAX_REST_GROWTH_MIB = 8
MMAP_THRESHOLD_BYTES = 1024 * 1024
# Steps every journey goes through before its case's lifecycle: each succeeded many times over.
EVERY_JOURNEY = (
    "SetPassword",
    "BeginAuthentication",
    "CompleteAuthentication",
    "SubmitTransaction",
)


def resident_mib(pid: int) -> float:
    """VmRSS of a process, in MiB (Linux reports it in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class MemorySampler:
    """Samples a process's resident set in the background while in its `with` block."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.samples.append(resident_mib(self._pid))

    def at_rest(self) -> float:
        """The smallest resident set of the next `REST_SECONDS` (call it with no load)."""
        deadline = time.monotonic() + REST_SECONDS
        lowest = resident_mib(self._pid)
        while time.monotonic() < deadline:
            time.sleep(SAMPLE_SECONDS / 2)
            lowest = min(lowest, resident_mib(self._pid))
        return lowest


def report(result: WorkloadResult, sampler: MemorySampler, rests: list[float], db: str) -> str:
    return (
        f"\n[load on {db}] {result.summary()}\n"
        f"server RSS at rest after each third: {' / '.join(f'{r:.1f}' for r in rests)} MiB; "
        f"under load {min(sampler.samples):.1f}-{max(sampler.samples):.1f} MiB"
    )


@pytest.mark.load
def test_64_clients_get_no_internal_errors_and_memory_stays_flat(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init")
    role = "agency:{},registrar,relying-service"
    keys = {name: add_account(data_dir, database_url, f"{name}-portal", role.format(name))
            for name in AGENCIES}  # fmt: skip
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD_BYTES))  # see the docstring
    # Each portal's share of the 64 clients is more than the default 16 calls in flight one
    # caller may have (tests/civitas/api/test_call_limits.py): here every call must be served.
    server = ServerProcess(data_dir, database_url, "--max-calls-per-caller", str(CLIENTS))
    rests: list[float] = []
    try:
        with MemorySampler(server.process.pid) as sampler:
            settings = WorkloadSettings(keys, clients=CLIENTS, seconds=LOAD_SECONDS, seed=6)
            workload = Workload(settings, server.target)
            workload.start()
            try:
                for _ in range(3):
                    time.sleep(LOAD_SECONDS / 3)
                    with workload.paused():
                        rests.append(sampler.at_rest())
            finally:
                result = workload.stop()
        assert server.process.poll() is None, f"the server died:\n{server.log()}"
    finally:
        server.stop()
    figures = report(
        result, sampler, rests, "PostgreSQL" if "postgres" in database_url else "SQLite"
    )
    print(figures)

    codes = result.codes()
    assert codes["INTERNAL"] == 0, figures
    assert codes["UNKNOWN"] == 0, figures
    assert not result.unexpected(), figures  # refusals only where the workload expects them
    assert not result.anomalies, figures
    # Every client got on, and far: a server that stalls would pass the checks above.
    succeeded = {method: n for (method, code), n in result.counts().items() if code == "OK"}
    assert succeeded.get("RegisterCitizen", 0) >= CLIENTS, figures
    for method in EVERY_JOURNEY:
        assert succeeded.get(method, 0) >= CLIENTS // 4, figures
    assert result.journeys > 0, figures
    assert codes["UNAUTHENTICATED"] > 0, figures  # mistyped passwords were among the calls

    _, second, last = rests
    assert last - second < MAX_REST_GROWTH_MIB, figures
