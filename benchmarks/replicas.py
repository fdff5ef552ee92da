"""Write throughput with one and two replicas on PostgreSQL, against one server on SQLite.

Each configuration runs the mixed workload of `civitas.workload` (register, password and TOTP
sign-ins, case submissions and their lifecycle, reads) from the same number of client threads
for the same time, against real `civitas serve` processes; with two replicas the clients are
split between them. Figures are printed as ratios against the SQLite run of the same process
(absolute numbers mean little on a shared machine).

The sequencer's lag is measured on each PostgreSQL run: a poller reads the latest signed
checkpoint every 20 ms; an entry's lag is the time from its commit (the entry's `at`) to the
first poll that saw a checkpoint covering it (so lags carry up to 20 ms of poll resolution).

Usage (from the repository root, PostgreSQL on 127.0.0.1:5432 as in the README):
    .venv/bin/python -m benchmarks.replicas [--seconds 20] [--clients 16] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from civitas.config import build_config
from civitas.node import Node
from civitas.workload import Workload, WorkloadResult, WorkloadSettings
from tests.civitas.private_postgres import fresh_schema
from tests.civitas.server_process import ServerProcess, add_account, civitas

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


class CheckpointPoller:
    """Notes when each signed checkpoint size is first seen."""

    def __init__(self, node: Node, interval: float = 0.02) -> None:
        self._node = node
        self._interval = interval
        self.seen: list[tuple[float, int]] = []  # (unix time, tree size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> CheckpointPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        last = -1
        while not self._stop.wait(self._interval):
            checkpoint = self._node.log_view.latest_checkpoint()
            size = checkpoint.tree_size if checkpoint else 0
            if size != last:
                self.seen.append((time.time(), size))
                last = size

    def lags(self, first_index: int) -> list[float]:
        """Seconds from each entry's commit to the first checkpoint seen to cover it."""
        lags, seen = [], iter(self.seen)
        when, size = next(seen, (0.0, 0))
        for entry in self._node.audit.entries(first_index):
            while size <= entry.index:
                when, size = next(seen, (float("inf"), 1 << 62))
            at = json.loads(entry.entry)["at"]
            lags.append(when - datetime.fromisoformat(at).timestamp())
        return [lag for lag in lags if lag != float("inf")]


def run(
    database: str, replicas: int, args: argparse.Namespace, folder: Path
) -> tuple[WorkloadResult, list[float]]:
    data_dir = folder / "data"
    civitas(data_dir, database, "db", "upgrade")
    keys = {
        "tax": add_account(data_dir, database, "portal", "agency:tax,registrar,relying-service")
    }
    servers = [ServerProcess(data_dir, database) for _ in range(replicas)]
    node = Node(build_config(data_dir=str(data_dir), database=database, environ={}))
    try:
        start_index = node.log_view.tree_size()
        per_server = args.clients // replicas
        workloads = [
            Workload(WorkloadSettings(keys, clients=per_server, seed=n), server.target)
            for n, server in enumerate(servers)
        ]
        with CheckpointPoller(node) as poller:
            for workload in workloads:
                workload.start()
            time.sleep(args.seconds)
            results = [workload.stop() for workload in workloads]
            time.sleep(1.5)  # the last entries reach a checkpoint
        lags = poller.lags(start_index) if node.database.is_postgres else []
    finally:
        node.close()
        for server in servers:
            server.stop()
    merged = WorkloadResult(
        clients=args.clients,
        seconds=max(r.seconds for r in results),
        calls=[c for r in results for c in r.calls],
        writes=[w for r in results for w in r.writes],
        journeys=sum(r.journeys for r in results),
    )
    return merged, lags


def report(title: str, result: WorkloadResult) -> None:
    print(f"{title}:")
    for line in result.summary().splitlines():
        print(f"  {line}")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--postgres", default=os.environ.get("CIVITAS_TEST_POSTGRES", DEFAULT_POSTGRES)
    )
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{Path(tmp) / 'sqlite' / 'civitas.sqlite'}"
        baseline, _ = run(sqlite, 1, args, Path(tmp) / "sqlite")
        report("SQLite, 1 server", baseline)
        for replicas in (1, 2):
            with fresh_schema(args.postgres, "bench") as database:
                result, lags = run(database, replicas, args, Path(tmp) / f"pg{replicas}")
            report(f"PostgreSQL, {replicas} replica(s)", result)
            p50, p99 = percentile(lags, 50), percentile(lags, 99)
            print(
                f"  sequencer lag over {len(lags)} entries: p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {max(lags, default=0) * 1000:.0f} ms"
            )
            figures[f"ratio_postgres_{replicas}"] = result.throughput / baseline.throughput
            figures[f"sequencer_lag_p99_ms_{replicas}"] = p99 * 1000
    print(f"{args.clients} clients, {args.seconds:.0f} s a run; calls/s against SQLite, 1 server")
    for name, value in figures.items():
        print(f"{name}={value:.3f}")


if __name__ == "__main__":
    main()
