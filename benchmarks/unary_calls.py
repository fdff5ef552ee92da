"""What the server's edge costs per unary call: gRPC, the event loop, the worker hop and the
interceptor, with next to no work behind them.

A `civitas serve` subprocess on SQLite; client threads call `IdentityService/GetJwks` (no
database, a few microseconds of servicer) for a while. With `--refused`, the calls carry no
credentials, so each is refused by the interceptor (UNAUTHENTICATED): the abort path. Prints the
server's CPU per call (its process CPU time, /proc) beside the calls per second and latencies;
compare branches back to back, as the machine's load moves the wall-clock figures.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.unary_calls [--seconds 10] [--clients 16] [--refused]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import grpc

from benchmarks.auth import cpu_seconds, run_clients
from protos.civitas.v1 import identity_pb2, identity_pb2_grpc
from tests.civitas.server_process import ServerProcess, add_account, civitas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--refused", action="store_true", help="calls without credentials")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        database = f"sqlite:///{Path(tmp) / 'civitas.sqlite'}"
        civitas(data_dir, database, "init")
        key = add_account(data_dir, database, "bench", "relying-service")
        server = ServerProcess(data_dir, database)
        try:
            with grpc.insecure_channel(server.target) as channel:
                identity = identity_pb2_grpc.IdentityServiceStub(channel)
                metadata = () if args.refused else (("authorization", f"Bearer {key}"),)

                def one(_: int) -> None:
                    try:
                        identity.GetJwks(identity_pb2.GetJwksRequest(), metadata=metadata)
                    except grpc.RpcError as error:
                        refused = error.code() == grpc.StatusCode.UNAUTHENTICATED
                        if not (args.refused and refused):
                            raise

                for _ in range(200):  # warm up: connections, caches, the worker threads
                    one(0)
                before = cpu_seconds(server.process.pid)
                wall, latencies = run_clients(args.clients, args.seconds, one)
                used = cpu_seconds(server.process.pid) - before
        finally:
            server.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    kind = "refused" if args.refused else "served"
    print(
        f"{kind} GetJwks: {len(latencies) / wall:8.1f} calls/s   p50 {quantiles[49] * 1000:6.2f} ms"
        f"   p99 {quantiles[98] * 1000:6.2f} ms   ({len(latencies)} in {wall:.1f} s)"
    )
    print(f"server CPU per call: {used / len(latencies) * 1e6:.0f} µs")
    print(f"{kind}_call_server_cpu_us={used / len(latencies) * 1e6:.0f}")


if __name__ == "__main__":
    main()
