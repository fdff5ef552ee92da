"""The floor under `benchmarks.streams`: what an idle stream costs grpc.aio itself.

A bare `grpc.aio` server in a subprocess, with the options `civitas serve` uses and no Civitas
code (no interceptor, no authentication, no change feed): its `WatchMyHistory` is an async
generator that sends one item and waits on a future of its own. The same holder as
`benchmarks.streams` opens `--streams` watches against it, and the server's resident memory per
idle stream is measured the same way. Civitas's figure less this one is what Civitas adds.

Usage: .venv/bin/python -m benchmarks.bare_streams [--streams 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from benchmarks.streams import rss_kib
from civitas.server import MAX_PENDING_CALLS, MAX_STREAMS_PER_CONNECTION
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc

TOKENS = ("no-token",)  # the bare server asks for no credentials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=10_000)
    args = parser.parse_args()
    print(f"rss_kib_per_idle_stream={measure(args.streams):.3f}")


def measure(streams: int) -> float:
    """The bare server's resident memory per idle stream, in KiB."""
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bare_streams", "serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        target = f"127.0.0.1:{server.stdout.readline().strip()}"
        rss_before = rss_kib(server.pid)
        holder = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.streams", "hold", target, str(streams), *TOKENS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        assert holder.stdin is not None
        opened = holder.stdout.readline().strip()
        if opened != f"open {streams}":
            raise RuntimeError(f"the holder could not open the streams: {opened!r}")
        time.sleep(2)  # as benchmarks.streams does before it measures
        rss_during = rss_kib(server.pid)
        holder.stdin.close()
        holder.wait(timeout=60)
    finally:
        server.kill()
        server.wait()
    per_stream = (rss_during - rss_before) / streams
    print(
        f"bare grpc.aio: server RSS {rss_before} KiB, with {streams} idle streams {rss_during} KiB "
        f"({per_stream:.1f} KiB per stream)"
    )
    return per_stream


class IdleHistory(history_pb2_grpc.HistoryServiceServicer):
    async def WatchMyHistory(  # noqa: N802 (the protos name it)
        self, request: hpb.WatchMyHistoryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[hpb.HistoryItem]:
        yield hpb.HistoryItem(position=1)  # the holder waits for one item from each watch
        await asyncio.get_running_loop().create_future()  # and then nothing, until cancelled


async def serve() -> None:
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
            ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", 2 * MAX_PENDING_CALLS),
        ]
    )
    history_pb2_grpc.add_HistoryServiceServicer_to_server(IdleHistory(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:  # the server process, started by `measure`
        asyncio.run(serve())
    else:
        main()
