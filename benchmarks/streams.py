"""Idle streams against a real server: do they cost memory only, or the other callers' service?

A `civitas serve` subprocess on SQLite. A separate client process (`grpc.aio`, several channels,
each its own HTTP/2 connection) opens `--streams` idle `WatchMyHistory` streams, shared among
`--citizens` citizens (the per-caller stream limit is raised to fit). Measured in this process:
- unary p99 latency of another caller (an agency's `GetJwks`) with the streams held open,
  against the same figure without them (ratio; target <= 1.5);
- the server's resident memory per idle stream (target <= 20 KiB);
- health checks that miss their 1 s deadline while the streams are open (target 0).

Usage: .venv/bin/python -m benchmarks.streams [--streams 10000] [--citizens 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civitas.client import CivitasClient, activation, bearer, channel_for
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from tests.civitas.server_process import ServerProcess, add_account, civitas

PASSWORD = "a long and unusual benchmark passphrase"
STREAMS_PER_CHANNEL = 500  # under the server's 1,000 HTTP/2 streams per connection
HEALTH_DEADLINE = 1.0
OPEN_AT_ONCE = 250


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--citizens", type=int, default=10)
    parser.add_argument("--calls", type=int, default=400, help="unary calls per measurement")
    parser.add_argument(
        "--recheck", type=float, help="the server's --stream-recheck-seconds (default its own)"
    )
    args = parser.parse_args()
    flags = ("--stream-recheck-seconds", str(args.recheck)) if args.recheck else ()
    figures = measure(args.streams, args.citizens, args.calls, flags)
    for name, value in figures.items():
        print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")


def measure(
    streams: int, citizens: int, calls: int, server_flags: tuple[str, ...] = ()
) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        database = f"sqlite:///{Path(tmp) / 'civitas.sqlite'}"
        civitas(data_dir, database, "init")
        key = add_account(data_dir, database, "bench", "agency:bench,registrar,relying-service")
        per_citizen = -(-streams // citizens)
        server = ServerProcess(data_dir, database, "--max-streams-per-caller", str(per_citizen + 1))
        try:
            return _measure(server, key, streams, citizens, calls)
        finally:
            server.stop()


def _measure(
    server: ServerProcess, key: str, streams: int, citizens: int, calls: int
) -> dict[str, float | int]:
    channel = channel_for(server.target)
    client = CivitasClient(channel, key)
    tokens = [_signed_in(client, n) for n in range(citizens)]
    _unary_p99(channel, key, calls)  # warm up: connections, caches
    rss_before = rss_kib(server.process.pid)
    p99_without = _unary_p99(channel, key, calls)
    print(f"without streams: GetJwks p99 {p99_without * 1000:.2f} ms, server RSS {rss_before} KiB")
    holder = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.streams", "hold", server.target, str(streams), *tokens],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        opened = holder.stdout.readline().strip()
        if opened != f"open {streams}":
            raise RuntimeError(f"the holder could not open the streams: {opened!r}")
        time.sleep(2)  # let the server settle: every stream has had its first recheck
        rss_during = rss_kib(server.process.pid)
        missed = _health_misses(channel, calls)
        p99_during = _unary_p99(channel, key, calls)
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=60)
        channel.close()
    per_stream = (rss_during - rss_before) / streams
    print(
        f"with {streams} idle streams: GetJwks p99 {p99_during * 1000:.2f} ms, server RSS "
        f"{rss_during} KiB ({per_stream:.1f} KiB per stream), health misses {missed}/{calls}"
    )
    return {
        "unary_p99_ms_without": p99_without * 1000,
        "unary_p99_ms_with": p99_during * 1000,
        "rss_kib_per_idle_stream": per_stream,
        "health_deadline_exceeded": missed,
        "unary_p99_ratio": p99_during / p99_without,
    }


def _signed_in(client: CivitasClient, n: int) -> str:
    citizen = client.register({"national_identifier": f"BENCH-STREAMS-{n}"})
    client.set_password(citizen.citizen_id, PASSWORD, proof=activation(citizen.activation_code))
    return str(client.authenticate_password(citizen.citizen_id, PASSWORD).token)


def _unary_p99(channel: grpc.Channel, key: str, calls: int) -> float:
    identity = identity_pb2_grpc.IdentityServiceStub(channel)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        identity.GetJwks(ipb.GetJwksRequest(), metadata=bearer(key), timeout=10)
        latencies.append(time.perf_counter() - started)
    return statistics.quantiles(latencies, n=100)[98]


def _health_misses(channel: grpc.Channel, calls: int) -> int:
    health = health_pb2_grpc.HealthStub(channel)
    missed = 0
    for _ in range(calls):
        try:
            health.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_DEADLINE)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            missed += 1
    return missed


def rss_kib(pid: int) -> int:
    """The process's resident set size (Linux /proc, proc(5))."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# --- the holder: a separate process that keeps the streams open --------------------------------


async def hold(target: str, streams: int, tokens: list[str]) -> None:
    """Open `streams` watches over several connections, say so, and hold them until stdin
    closes."""
    channels = [
        # A local subchannel pool: each channel its own connection, not one shared by all.
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(-(-streams // STREAMS_PER_CHANNEL))
    ]
    calls = []
    # In steps, as citizens arrive: each step's watches must all have opened before the next.
    for first in range(0, streams, OPEN_AT_ONCE):
        step = []
        for n in range(first, min(first + OPEN_AT_ONCE, streams)):
            stub = history_pb2_grpc.HistoryServiceStub(channels[n // STREAMS_PER_CHANNEL])
            request = hpb.WatchMyHistoryRequest()
            step.append(stub.WatchMyHistory(request, metadata=bearer(tokens[n % len(tokens)])))
        # Each citizen has history, so each watch sends at least one item once it is open.
        await asyncio.gather(*(call.read() for call in step))
        calls += step
    print(f"open {streams}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for call in calls:
        call.cancel()
    for channel in channels:
        await channel.close(None)


if __name__ == "__main__":
    if sys.argv[1:2] == ["hold"]:  # the holder process, started by `measure`
        asyncio.run(hold(sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
    else:
        main()
