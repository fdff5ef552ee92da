"""The tlog-tiles read API: what a tile costs over HTTP, and that it does not grow with the log.

In process, on the real signed store (SQLite; PostgreSQL when a URL is given, in a fresh schema
per log). Two logs are built, a small one (the baseline) and a large one, each sequenced and
served by `civitas.tiles_http.TilesEndpoint`. Over one keep-alive connection each, the median
time of `GET /checkpoint`, of a full level-0 hash tile and of a full entry bundle (without gzip)
is measured, the logs taking turns. The ratios compare the large log with the small one (1.0:
a tile costs the same whatever the log's size) and a tile with the checkpoint of the same log
(one range query of 256 rows against one indexed row).

Usage (from the repository root):
    .venv/bin/python -m benchmarks.tiles [--small 1000] [--large 20000] [--samples 200]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from civitas.config import build_config
from civitas.node import Node
from civitas.tiles_http import TilesEndpoint
from ledger.accounts import ServiceAccount
from ledger.tiles import TILE_WIDTH, Tile
from tests.civitas.private_postgres import fresh_schema

BATCH = 500


@contextmanager
def served_log(postgres: str, entries: int) -> Iterator[tuple[TilesEndpoint, int]]:
    """A log of `entries` entries, sequenced and served; yields the endpoint and its size."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = (
            stack.enter_context(fresh_schema(postgres))
            if postgres
            else f"sqlite:///{folder / 'civitas.sqlite'}"
        )
        node = Node(build_config(data_dir=str(folder / "data"), database=url, environ={}))
        stack.callback(node.close)
        node.initialise("civitas.benchmark/log")
        node.upgrade_schema()
        for start in range(0, entries, BATCH):
            accounts = [
                ServiceAccount(f"bench-{i}", "agency:bench", "0" * 64, actor="cli:bench")
                for i in range(start, min(entries, start + BATCH))
            ]
            node.accounts.save(*accounts)
        assert node.sequencer().catch_up(node.store.recorder.max_notification_id(), 600)
        size = node.audit.latest_checkpoint().tree_size
        endpoint = TilesEndpoint(node.log_tiles, "127.0.0.1", 0)
        stack.callback(endpoint.close)
        yield endpoint, size


def _paths(size: int, rng: random.Random) -> dict[str, str]:
    """The checkpoint, and a full hash tile and entry bundle chosen at random."""
    full = rng.randrange(size // TILE_WIDTH)
    return {
        "checkpoint": "/checkpoint",
        "tile": "/" + Tile(0, full, TILE_WIDTH).path(),
        "bundle": "/" + Tile(None, full, TILE_WIDTH).path(),
    }


def _timed_get(connection: http.client.HTTPConnection, path: str) -> float:
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200 or not body:
        raise RuntimeError(f"GET {path}: {response.status}")
    return elapsed


def measure(postgres: str, small: int, large: int, samples: int) -> dict[str, float]:
    """Median seconds per request kind and log, then the ratios; prints a table."""
    rng = random.Random(15)
    timings: dict[tuple[str, str], list[float]] = {}
    with (
        served_log(postgres, small) as (small_end, small_size),
        served_log(postgres, large) as (large_end, large_size),
    ):
        logs = {"small": (small_end, small_size), "large": (large_end, large_size)}
        connections = {
            name: http.client.HTTPConnection("127.0.0.1", end.port, timeout=30)
            for name, (end, _) in logs.items()
        }
        for _ in range(samples):
            for name, (_, size) in logs.items():
                for kind, path in _paths(size, rng).items():
                    elapsed = _timed_get(connections[name], path)
                    timings.setdefault((name, kind), []).append(elapsed)
        for connection in connections.values():
            connection.close()
    median = {key: statistics.median(values) for key, values in timings.items()}
    database = "PostgreSQL" if postgres else "SQLite"
    print(f"tlog-tiles over HTTP on {database}, median of {samples} requests, one connection")
    print(f"{'':12}{f'{small_size} entries':>16}{f'{large_size} entries':>16}{'ratio':>8}")
    for kind in ("checkpoint", "tile", "bundle"):
        low, high = median[("small", kind)], median[("large", kind)]
        print(f"{kind:12}{low * 1000:>13.2f} ms{high * 1000:>13.2f} ms{high / low:>8.2f}")
    figures = {
        "tile_large_over_small": median[("large", "tile")] / median[("small", "tile")],
        "bundle_large_over_small": median[("large", "bundle")] / median[("small", "bundle")],
        "tile_over_checkpoint": median[("large", "tile")] / median[("large", "checkpoint")],
        "bundle_over_checkpoint": median[("large", "bundle")] / median[("large", "checkpoint")],
        "tile_ms": median[("large", "tile")] * 1000,
        "bundle_ms": median[("large", "bundle")] * 1000,
    }
    for name, value in figures.items():
        print(f"{name}={value:.3f}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL; SQLite without it")
    args = parser.parse_args()
    measure(args.postgres, args.small, args.large, args.samples)


if __name__ == "__main__":
    main()
