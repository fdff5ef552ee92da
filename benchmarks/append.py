"""Append throughput: plain `eventsourcing` against the signed store, in the same process.

20,000 events (2,000 aggregates x 10 events, ~100-byte payloads) go through (a) a plain
`eventsourcing` application and (b) a Civitas ledger application, on SQLite with the same
settings, in two modes: one `save` per command (the shape of an RPC) and 100 aggregates per
`save`. Each configuration runs several times, interleaved, and the median counts: the machines
here are noisy, so only ratios measured side by side mean anything.

Usage: .venv/bin/python benchmarks/append.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from civitas.config import build_config
from civitas.node import Node
from ledger.events import LedgerAggregate
from ledger.store import LedgerApplication

AGGREGATES = 2_000
EVENTS_PER_AGGREGATE = 10
BATCH = 100
NOTE = "n" * 64  # with the actor and the event's own fields: ~100 payload bytes
ACTOR = "service:benchmark"


class PlainCase(Aggregate):
    @event("Opened")
    def __init__(self, note: str, actor: str) -> None:
        self.notes = [note]

    @event("Noted")
    def add_note(self, note: str, actor: str) -> None:
        self.notes.append(note)


class SignedCase(LedgerAggregate):
    @event("Opened")
    def __init__(self, note: str, actor: str) -> None:
        self.notes = [note]

    @event("Noted")
    def add_note(self, note: str, actor: str) -> None:
        self.notes.append(note)


class SignedCases(LedgerApplication):
    pass


def per_save(save: Callable[..., Any], case: type[Any]) -> float:
    started = time.perf_counter()
    for _ in range(AGGREGATES):
        aggregate = case(NOTE, actor=ACTOR)
        save(aggregate)
        for _ in range(EVENTS_PER_AGGREGATE - 1):
            aggregate.add_note(NOTE, actor=ACTOR)
            save(aggregate)
    return AGGREGATES * EVENTS_PER_AGGREGATE / (time.perf_counter() - started)


def batched(save: Callable[..., Any], case: type[Any]) -> float:
    started = time.perf_counter()
    for _ in range(AGGREGATES // BATCH):
        aggregates = []
        for _ in range(BATCH):
            aggregate = case(NOTE, actor=ACTOR)
            for _ in range(EVENTS_PER_AGGREGATE - 1):
                aggregate.add_note(NOTE, actor=ACTOR)
            aggregates.append(aggregate)
        save(*aggregates)
    return AGGREGATES * EVENTS_PER_AGGREGATE / (time.perf_counter() - started)


def ed25519_sign_rate(threads: int = 1, count: int = 20_000) -> float:
    """Signatures per second from `threads` threads (`cryptography` releases the GIL to sign)."""
    key = Ed25519PrivateKey.generate()
    message = b"civitas/entry/v1\n" + b"x" * 280

    def sign(times: int) -> None:
        for _ in range(times):
            key.sign(message)

    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        list(pool.map(sign, [count // threads] * threads))
        return count / (time.perf_counter() - started)


def plain_app(folder: Path) -> Application[Any]:
    return Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "plain.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    )


def signed_node(folder: Path) -> Node:
    node = Node(build_config(data_dir=str(folder / "signed"), environ={}))
    node.initialise("civitas.benchmark/log")
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {key: [] for key in ("a1", "b1", "aN", "bN")}
    leaves_per_second = 0.0
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            plain = plain_app(folder)
            node = signed_node(folder)
            signed = SignedCases(node.store)
            rates["a1"].append(per_save(plain.save, PlainCase))
            rates["b1"].append(per_save(signed.save, SignedCase))
            rates["aN"].append(batched(plain.save, PlainCase))
            rates["bN"].append(batched(signed.save, SignedCase))
            leaves = node.store.recorder.max_notification_id() or 0
            started = time.perf_counter()
            node.sequencer().catch_up(leaves)
            leaves_per_second = max(leaves_per_second, leaves / (time.perf_counter() - started))
            assert node.log_view.tree_size() == leaves
            plain.close()
            node.close()
    median = {key: statistics.median(values) for key, values in rates.items()}
    sign_rate = ed25519_sign_rate()
    cores = os.cpu_count() or 1
    all_cores_rate = ed25519_sign_rate(cores)
    print(f"events: {AGGREGATES * EVENTS_PER_AGGREGATE} per run, {args.repeats} runs, medians")
    print(f"(a) plain eventsourcing, one save per command: {median['a1']:10.0f} events/s")
    print(f"(b) signed store,        one save per command: {median['b1']:10.0f} events/s")
    print(f"(a) plain eventsourcing, {BATCH} aggregates per save: {median['aN']:10.0f} events/s")
    print(f"(b) signed store,        {BATCH} aggregates per save: {median['bN']:10.0f} events/s")
    print(f"Ed25519 signatures, one core:                {sign_rate:10.0f} /s")
    print(f"Ed25519 signatures, {cores} cores:               {all_cores_rate:10.0f} /s")
    print(f"sequencer (catch-up incl. start, checkpoint): {leaves_per_second:10.0f} leaves/s")
    # A batch's signatures are made on every core (ledger/mapper.py), the rest of the save on
    # one: plain time + signing time on all cores bounds what (b) can reach.
    bound = (1 / median["aN"]) / (1 / median["aN"] + 1 / all_cores_rate)
    print(f"bound on ratio_batched from signing alone on this machine: {bound:.3f}")
    print(f"ratio_per_save={median['b1'] / median['a1']:.3f}")
    print(f"ratio_batched={median['bN'] / median['aN']:.3f}")


if __name__ == "__main__":
    main()
