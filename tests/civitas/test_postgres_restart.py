"""PostgreSQL restarts under load: the service answers UNAVAILABLE (promptly) while it is down,
recovers by itself, and loses no acknowledged write."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import grpc

from civitas.client import CivitasClient, channel_for
from civitas.workload import Workload, WorkloadSettings
from tests.civitas.ledger_checks import (
    assert_acknowledged_writes_exactly_once,
    assert_bundle_verifies,
    open_node,
    wait_until_sequenced,
)
from tests.civitas.private_postgres import PrivatePostgres, private_postgres
from tests.civitas.server_process import ServerProcess, add_account, civitas
from tests.conftest import postgres_or_skip

PROMPT_SECONDS = 5.0  # an answer while the database is down comes within this


def register(client: CivitasClient) -> str:
    return client.register_citizen(
        {
            "given_name": "Ada",
            "family_name": "Restart",
            "birth_date": "1990-01-01",
            "national_identifier": f"R-{uuid.uuid4().hex[:12]}",
        }
    )


def code_and_seconds(client: CivitasClient) -> tuple[grpc.StatusCode, float]:
    started = time.monotonic()
    try:
        register(client)
    except grpc.RpcError as error:
        return error.code(), time.monotonic() - started
    return grpc.StatusCode.OK, time.monotonic() - started


def test_the_service_rides_out_a_postgres_restart(tmp_path: Path) -> None:
    postgres_or_skip()
    with private_postgres() as postgres:
        run_restart_scenario(tmp_path, postgres)


def run_restart_scenario(tmp_path: Path, postgres: PrivatePostgres) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, postgres.url, "db", "upgrade")
    key = add_account(data_dir, postgres.url, "portal", "agency:tax,registrar,relying-service")
    server = ServerProcess(data_dir, postgres.url)
    try:
        load_through_a_restart(server, key, postgres)
    finally:
        server.stop()


def load_through_a_restart(server: ServerProcess, key: str, postgres: PrivatePostgres) -> None:
    url, data_dir = postgres.url, server.data_dir
    workload = Workload(WorkloadSettings({"tax": key}, clients=4, seed=7), server.target)
    with channel_for(server.target) as channel:
        probe = CivitasClient(channel, key, timeout=30)
        workload.start()
        try:
            time.sleep(2)
            postgres.stop()
            while_down = [code_and_seconds(probe) for _ in range(3)]
            postgres.start()
            recovered_after = wait_for_ok(probe, timeout=15)
            time.sleep(2)
        finally:
            result = workload.stop()

    assert all(code == grpc.StatusCode.UNAVAILABLE for code, _ in while_down), while_down
    print(f"while down: {while_down}; a write succeeded {recovered_after:.2f} s after restart")
    assert max(seconds for _, seconds in while_down) < PROMPT_SECONDS, while_down
    assert recovered_after < 10, f"recovered only after {recovered_after:.1f} s"
    codes = result.codes()
    assert codes["INTERNAL"] == 0
    assert codes["UNKNOWN"] == 0
    assert codes["DEADLINE_EXCEEDED"] == 0
    assert codes["UNAVAILABLE"] > 0, "the load never met the outage"
    node = open_node(data_dir, url)
    try:
        assert assert_acknowledged_writes_exactly_once(node, result) > 10
        wait_until_sequenced(node)
        assert_bundle_verifies(data_dir, url, data_dir.parent / "bundle")
    finally:
        node.close()


def wait_for_ok(client: CivitasClient, timeout: float) -> float:
    """Seconds until a write succeeds again."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        code, _ = code_and_seconds(client)
        if code == grpc.StatusCode.OK:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"no successful write within {timeout} s of the restart")
