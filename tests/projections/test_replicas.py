"""Two server processes on one PostgreSQL: a citizen watching through one replica sees what was
written through the other."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc

from civitas.client import bearer
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc
from tests.civitas.api.test_history import register, sign_in, wait_for
from tests.civitas.server_process import add_account, civitas, running_server


def test_watch_on_one_replica_sees_a_write_through_another(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, postgres_schema_url, "init")
    agency = bearer(
        add_account(data_dir, postgres_schema_url, "portal", "agency:tax,registrar,relying-service")
    )
    with (
        running_server(data_dir, postgres_schema_url) as (port_a, _),
        running_server(data_dir, postgres_schema_url) as (port_b, _),
    ):
        replica_a = grpc.insecure_channel(f"127.0.0.1:{port_a}")
        replica_b = grpc.insecure_channel(f"127.0.0.1:{port_b}")
        identity_b = identity_pb2_grpc.IdentityServiceStub(replica_b)
        citizen = register(identity_b, agency, "R-1")
        token = sign_in(identity_b, agency, citizen)
        history_a = history_pb2_grpc.HistoryServiceStub(replica_a)
        seen = wait_for(
            lambda: list(
                history_a.ListMyHistory(hpb.ListMyHistoryRequest(), metadata=bearer(token)).items
            )
        )
        received: list[float] = []
        watch = history_a.WatchMyHistory(
            hpb.WatchMyHistoryRequest(after_position=seen[-1].position), metadata=bearer(token)
        )

        def consume() -> None:
            try:
                for item in watch:
                    if item.kind == "sign_in":
                        received.append(time.monotonic())
            except grpc.RpcError:
                pass  # cancelled below

        threading.Thread(target=consume, daemon=True).start()
        time.sleep(0.5)  # the watch is open and idle before the write
        latencies = []
        for _ in range(5):
            before = len(received)
            written = time.monotonic()
            sign_in(identity_b, agency, citizen)  # through the other replica
            wait_for(lambda n=before: len(received) > n, timeout=5)
            latencies.append(received[-1] - written)
        watch.cancel()
        assert max(latencies) < 1.0, latencies
        replica_a.close()
        replica_b.close()
