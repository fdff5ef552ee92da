"""History at scale: projection catch-up against the raw log read rate; list and receipt latency.

Fills a SQLite ledger with data-access events spread over many citizens (batched writes through
the signed store), sequences it, then measures in the same process:
- the raw notification-log read rate (the ceiling for any follower) and the citizen-timeline
  projection's catch-up rate from zero;
- `ListMyHistory` and `GetReceipt` p50/p99 (the application calls behind the RPCs) at a small
  size and at the full size, side by side: a receipt is an O(log n) proof, so its latency should
  hardly move while the log grows a hundredfold.

Usage: .venv/bin/python benchmarks/history.py [--events 1000000] [--small 10000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from civitas.config import build_config
from civitas.node import Node
from ledger.data_access import DataAccess

CITIZENS = 10_000
BATCH = 2_000


def fill(node: Node, upto: int) -> None:
    written = node.store.recorder.max_notification_id() or 0
    while written < upto:
        count = min(BATCH, upto - written)
        node.data_access.save(
            *(
                DataAccess(
                    _citizen(n), "tax", "annual assessment", "personal data", actor="service:b"
                )
                for n in range(written, written + count)
            )
        )
        written += count


def _citizen(n: int) -> str:
    return f"00000000-0000-4000-8000-{n % CITIZENS:012d}"


def raw_read_rate(node: Node) -> float:
    started, position, total = time.perf_counter(), 1, 0
    while True:
        page = node.store.recorder.select_notifications(start=position, limit=1000)
        if not page:
            break
        total += len(page)
        position = page[-1].id + 1
    return total / (time.perf_counter() - started)


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def latencies(node: Node, size: int, rounds: int = 300) -> dict[str, tuple[float, float]]:
    listing, receipts = [], []
    for _ in range(rounds):
        citizen = _citizen(random.randrange(min(size, CITIZENS)))
        started = time.perf_counter()
        page = node.history.list(citizen, [], None, None, 50, "")
        listing.append(time.perf_counter() - started)
        item = random.choice(page.items)
        started = time.perf_counter()
        node.history.receipt(citizen, item.stream, item.version)
        receipts.append(time.perf_counter() - started)
    return {"ListMyHistory": percentiles(listing), "GetReceipt": percentiles(receipts)}


def measure(node: Node, size: int) -> dict[str, tuple[float, float]]:
    fill(node, size)
    assert node.sequencer().catch_up(size, timeout=3600)
    timeline = next(p for p in node.projections() if p.name == "timeline")
    assert timeline.catch_up(size, timeout=3600)
    return latencies(node, size)


def rebuild_rate(node: Node, events: int) -> float:
    timeline = next(p for p in node.projections() if p.name == "timeline")
    started = time.perf_counter()
    assert timeline.rebuild(node.timeline_view.reset, events, timeout=7200)
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(build_config(data_dir=str(Path(tmp) / "data"), environ={}))
        node.initialise("civitas.benchmark/history")
        small = measure(node, args.small)
        started = time.perf_counter()
        fill(node, args.events)
        rate = (args.events - args.small) / (time.perf_counter() - started)
        print(f"wrote {args.events} events (signed, batched: {rate:.0f}/s)")
        large = measure(node, args.events)
        read_rate = raw_read_rate(node)
        catch_up_rate = rebuild_rate(node, args.events)
        node.close()
        # The same replay without checking each entry's signature on read (--no-verify-on-read).
        unverified = Node(
            build_config(data_dir=str(Path(tmp) / "data"), verify_on_read=False, environ={})
        )
        unverified_rate = rebuild_rate(unverified, args.events)
        unverified.close()
    print(f"raw notification-log read:       {read_rate:10.0f} events/s")
    print(f"timeline projection from zero:   {catch_up_rate:10.0f} events/s (signatures checked)")
    print(f"  without signature checks:      {unverified_rate:10.0f} events/s")
    for name in ("ListMyHistory", "GetReceipt"):
        (s50, s99), (l50, l99) = small[name], large[name]
        print(
            f"{name:<15} p50/p99 ms  {args.small:>9,} events: {s50:6.2f} / {s99:6.2f}   "
            f"{args.events:>9,} events: {l50:6.2f} / {l99:6.2f}"
        )
    print(f"ratio_projection_vs_raw_read={catch_up_rate / read_rate:.3f}")
    print(f"receipt_p99_growth={large['GetReceipt'][1] / small['GetReceipt'][1]:.2f}")


if __name__ == "__main__":
    main()
