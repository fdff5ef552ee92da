"""Two replicas on one PostgreSQL under a mixed write load: SIGKILL one, then the sequencer's
holder, restart both. Nothing acknowledged is lost or doubled, the ledger verifies, another
replica takes the sequencer over within five seconds, and the projections equal a rebuild.

The PostgreSQL is a cluster of the test's own: two replicas and their restarts need more
connections than the shared server may spare while other tests use it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from civitas.workload import Workload, WorkloadResult, WorkloadSettings
from tests.civitas.ledger_checks import (
    assert_acknowledged_writes_exactly_once,
    assert_bundle_verifies,
    assert_projections_equal_a_rebuild,
    open_node,
    wait_until_projected,
    wait_until_sequenced,
)
from tests.civitas.private_postgres import private_postgres
from tests.civitas.server_process import ServerProcess, add_account, civitas, free_port
from tests.conftest import postgres_or_skip

TAKEOVER_SECONDS = 5.0
LEADS = "this process is now the sequencer"


def leads_sequencer(server: ServerProcess) -> bool:
    """The last word in its log: it took the sequencer and has not lost it since."""
    lines = [line for line in server.log().splitlines() if re.search(r"the sequencer", line)]
    return bool(lines) and LEADS in lines[-1]


def wait_for_sequencer(servers: list[ServerProcess], timeout: float) -> ServerProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holders = [s for s in servers if s.process.poll() is None and leads_sequencer(s)]
        if holders:
            return holders[0]
        time.sleep(0.05)
    raise AssertionError(f"no replica took the sequencer within {timeout} s")


def test_replicas_survive_sigkill_of_a_replica_and_of_the_sequencer(tmp_path: Path) -> None:
    postgres_or_skip()
    with private_postgres() as postgres:
        run_crash_scenario(tmp_path, postgres.url)


def run_crash_scenario(tmp_path: Path, url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, url, "db", "upgrade")
    keys = {"tax": add_account(data_dir, url, "portal", "agency:tax,registrar,relying-service")}
    replicas: list[ServerProcess] = []
    try:
        replicas.extend(ServerProcess(data_dir, url, port=free_port()) for _ in range(2))
        results = crash_under_load(replicas, keys)
        node = open_node(data_dir, url)
        try:
            checked = sum(assert_acknowledged_writes_exactly_once(node, r) for r in results)
            assert checked > 20, "too little load to prove anything"
            print(f"acknowledged writes checked exactly once: {checked}")  # with -s
            size = wait_until_sequenced(node)
            wait_until_projected(node)
        finally:
            node.close()
        report = assert_bundle_verifies(data_dir, url, tmp_path / "bundle")
        assert f"entries: {size:,}" in report
    finally:
        for replica in replicas:
            replica.stop()
    assert_projections_equal_a_rebuild(data_dir, url)


def crash_under_load(replicas: list[ServerProcess], keys: dict[str, str]) -> list[WorkloadResult]:
    """Kill a replica, then the sequencer's holder, restarting each on its port (`replicas` is
    updated in place) while clients of both keep writing."""
    workloads = [
        Workload(WorkloadSettings(keys, clients=3, seed=n), replica.target)
        for n, replica in enumerate(replicas)
    ]
    for workload in workloads:
        workload.start()
    try:
        time.sleep(2)
        holder = wait_for_sequencer(replicas, TAKEOVER_SECONDS)
        other = replicas[1 - replicas.index(holder)]

        other.kill()  # a replica that does not sequence
        time.sleep(1.5)
        replicas[replicas.index(other)] = other.restart()
        time.sleep(1.5)

        holder.kill()  # now the sequencer's holder
        killed_at = time.monotonic()
        survivor = wait_for_sequencer([r for r in replicas if r is not holder], 10)
        takeover = time.monotonic() - killed_at
        replicas[replicas.index(holder)] = holder.restart()
        time.sleep(2)
    finally:
        results = [workload.stop() for workload in workloads]
    print(f"sequencer taken over {takeover:.2f} s after its holder was killed")  # with -s
    assert takeover < TAKEOVER_SECONDS, f"takeover took {takeover:.1f} s"
    assert survivor.process.poll() is None
    calls = [call for result in results for call in result.calls]
    assert not [c for c in calls if c.code in ("INTERNAL", "UNKNOWN")]
    return results
