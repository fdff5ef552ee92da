"""Where a server's CPU goes during `benchmarks/auth.py`: each thread's CPU from /proc, split
by what its Python stacks show (py-spy, sampling only the thread that holds the GIL).

Used by `benchmarks.auth --py-spy PATH` (py-spy is not a dependency: install it beside the
project, e.g. `python -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy`). Per thread:
gRPC's own threads (its completion-queue poller `_serve` and the C core's threads), the log's
followers (sequencer, projections, their pullers), and the RPC workers; a worker's CPU is split
in proportion to its GIL-holding samples. Code that lets go of the GIL (SQLite's writes,
Ed25519) is therefore under-counted in that split, not in the thread totals.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

# (part of an RPC worker's time, stack fragments that put a sample in it), first match wins.
APPLICATION_PARTS: Final = (
    ("cache copies (pickle)", ("copy_aggregate", "Frozen.")),
    ("entry signing", ("to_stored_event",)),
    ("inserts and commits", ("insert_events (",)),
    ("aggregate reads from the store", ("EventStore.get", "select_events")),
    ("data key read and unwrap", ("DataKeyStore.sealer",)),
    ("TOTP check", ("matching_step",)),
    ("session token (JWT)", ("TokenIssuer.issue",)),
)
_THREAD: Final = re.compile(r"thread \((\d+)\): ([^;]+)")


def thread_cpu(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread of *pid*: its kernel name and the clock ticks of user and system CPU it has
    used so far (proc(5)). gRPC names its C threads; Python's threads all carry the program's."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat.split("(", 1)[1].rsplit(")", 1)[0]
        fields = stat.rsplit(")", 1)[1].split()
        threads[int(task.name)] = (name, int(fields[11]) + int(fields[12]))
    return threads


def used_between(
    before: Mapping[int, tuple[str, int]], after: Mapping[int, tuple[str, int]]
) -> dict[int, tuple[str, int]]:
    """Each thread's CPU ticks between two `thread_cpu` readings."""
    return {
        tid: (name, ticks - before.get(tid, (name, 0))[1]) for tid, (name, ticks) in after.items()
    }


def record(py_spy: str, pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy on *pid* for *seconds*, raw stacks to *out*; the caller waits for it."""
    return subprocess.Popen(
        [
            py_spy,
            *("record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"),
            *("--format", "raw", "--threads", "--nonblocking", "--gil", "-o", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def thread_kind(name: str) -> str:
    """What a thread is, by its Python name (py-spy) or else its kernel name."""
    if name.startswith("rpc"):
        return "RPC workers"
    if "_serve" in name or not name.startswith(("Thread-", "projection-", "sequencer", "python")):
        return "gRPC's own threads"  # its poller, and the C core's named threads
    if name.startswith("python"):
        return "other Python threads (idle while sampled)"
    return "log followers (sequencer, projections)"


def worker_part(stack: str) -> str:
    if "IdentityServicer." in stack:
        return "  " + next(
            (part for part, marks in APPLICATION_PARTS if any(mark in stack for mark in marks)),
            "other identity and ledger code",
        )
    if "logging/__init__" in stack or "_finished" in stack:
        return "  interceptor: access log line and metrics"
    if "interceptor.py" in stack:
        return "  interceptor: caller check, request id, status"
    return "  gRPC request handling in the worker"


def summarise(
    stacks: Iterable[str], cpu_ticks: Mapping[int, tuple[str, int]], sign_ins: int
) -> list[tuple[str, float]]:
    """[(part, CPU ms per sign-in)] from py-spy's raw lines and each thread's (kernel name, CPU
    ticks)."""
    names: dict[int, str] = {}
    worker_samples: Counter[str] = Counter()
    for line in stacks:
        stack, _, count = line.rstrip().rpartition(" ")
        found = _THREAD.match(stack)
        if found is None or not count.isdigit():
            continue
        names[int(found.group(1))] = found.group(2)
        if thread_kind(found.group(2)) == "RPC workers":
            worker_samples[worker_part(stack)] += int(count)
    per_tick = 1000 / os.sysconf("SC_CLK_TCK") / sign_ins
    kinds: Counter[str] = Counter()
    for tid, (kernel_name, ticks) in cpu_ticks.items():
        kinds[thread_kind(names.get(tid, kernel_name))] += ticks
    rows = [("whole server", sum(kinds.values()) * per_tick)]
    for kind in (
        "gRPC's own threads",
        "log followers (sequencer, projections)",
        "other Python threads (idle while sampled)",
        "RPC workers",
    ):
        rows.append((kind, kinds[kind] * per_tick))
    samples = sum(worker_samples.values()) or 1
    for part, share in sorted(worker_samples.items()):
        rows.append((part, kinds["RPC workers"] * per_tick * share / samples))
    return rows
