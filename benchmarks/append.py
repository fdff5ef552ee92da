"""Append throughput: plain `eventsourcing` against the signed store, in the same process.

20,000 events (2,000 aggregates x 10 events, ~100-byte payloads) go through (a) a plain
`eventsourcing` application and (b) a Civitas ledger application, on SQLite with the same
settings, in two modes: one `save` per command (the shape of an RPC) and 100 aggregates per
`save`. The machines here are noisy, so (a) and (b) take turns in rounds of 100 aggregates (the
order swapped every round) and both meet the same moments of the machine; each run starts on
fresh databases, and the median of the runs counts. One save per command also runs (c), plain
`eventsourcing` on the ledger's own SQLite recorder: (b)/(c) is what the signed entry costs.

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
ROUND = 100  # aggregates per turn of each store
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


def per_save(save: Callable[..., Any], case: type[Any], aggregates: int) -> float:
    """Seconds to store `aggregates` x 10 events, one save per command."""
    started = time.perf_counter()
    for _ in range(aggregates):
        aggregate = case(NOTE, actor=ACTOR)
        save(aggregate)
        for _ in range(EVENTS_PER_AGGREGATE - 1):
            aggregate.add_note(NOTE, actor=ACTOR)
            save(aggregate)
    return time.perf_counter() - started


def batched(save: Callable[..., Any], case: type[Any], aggregates: int) -> float:
    """Seconds to store `aggregates` x 10 events, `BATCH` aggregates per save."""
    started = time.perf_counter()
    for _ in range(aggregates // BATCH):
        batch = []
        for _ in range(BATCH):
            aggregate = case(NOTE, actor=ACTOR)
            for _ in range(EVENTS_PER_AGGREGATE - 1):
                aggregate.add_note(NOTE, actor=ACTOR)
            batch.append(aggregate)
        save(*batch)
    return time.perf_counter() - started


Mode = Callable[[Callable[..., Any], type[Any], int], float]


Turn = tuple[Callable[..., Any], type[Any]]  # a save function and the aggregate class it saves


def taking_turns(mode: Mode, turns: dict[str, Turn]) -> dict[str, float]:
    """Events/s of each store in `mode`, in rounds of `ROUND` aggregates, the order reversed
    every other round."""
    seconds = dict.fromkeys(turns, 0.0)
    order = list(turns.items())
    for round_number in range(AGGREGATES // ROUND):
        for name, (save, case) in order if round_number % 2 == 0 else order[::-1]:
            seconds[name] += mode(save, case, ROUND)
    return {name: AGGREGATES * EVENTS_PER_AGGREGATE / spent for name, spent in seconds.items()}


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


def plain_app(folder: Path, recorder_topic: str | None = None) -> Application[Any]:
    name = "plain-on-ledger-recorder" if recorder_topic else "plain"
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(folder / f"{name}.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    if recorder_topic:
        env["APPLICATION_RECORDER_TOPIC"] = recorder_topic
    return Application(env=env)


def signed_node(folder: Path) -> Node:
    node = Node(build_config(data_dir=str(folder / "signed"), environ={}))
    node.initialise("civitas.benchmark/log")
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {key: [] for key in ("a1", "b1", "c1", "aN", "bN")}
    leaves_per_second = 0.0
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            plain = plain_app(folder)
            node = signed_node(folder)
            signed = SignedCases(node.store)
            # (c): plain eventsourcing on the ledger's SQLite recorder, which stores a one-event
            # save as one statement: what (b) adds beyond it is the signed entry alone.
            same_recorder = plain_app(folder, "ledger.store:SQLiteLedgerRecorder")
            stores: dict[str, Turn] = {
                "a": (plain.save, PlainCase),
                "b": (signed.save, SignedCase),
                "c": (same_recorder.save, PlainCase),
            }
            for name, rate in taking_turns(per_save, stores).items():
                rates[f"{name}1"].append(rate)
            del stores["c"]
            for name, rate in taking_turns(batched, stores).items():
                rates[f"{name}N"].append(rate)
            leaves = node.store.recorder.max_notification_id() or 0
            started = time.perf_counter()
            node.sequencer().catch_up(leaves)
            leaves_per_second = max(leaves_per_second, leaves / (time.perf_counter() - started))
            assert node.log_view.tree_size() == leaves
            plain.close()
            same_recorder.close()
            node.close()
    median = {key: statistics.median(values) for key, values in rates.items()}
    ratios = {
        (b, a): [signed / plain for plain, signed in zip(rates[a], rates[b], strict=True)]
        for b, a in (("b1", "a1"), ("bN", "aN"), ("b1", "c1"))
    }
    sign_rate = ed25519_sign_rate()
    cores = os.cpu_count() or 1
    all_cores_rate = ed25519_sign_rate(cores)
    print(f"events: {AGGREGATES * EVENTS_PER_AGGREGATE} per run, {args.repeats} runs, medians")
    print(f"(a) plain eventsourcing, one save per command: {median['a1']:10.0f} events/s")
    print(f"(b) signed store,        one save per command: {median['b1']:10.0f} events/s")
    print(f"(c) (a) on the ledger's SQLite recorder:      {median['c1']:10.0f} events/s")
    print(f"(a) plain eventsourcing, {BATCH} aggregates per save: {median['aN']:10.0f} events/s")
    print(f"(b) signed store,        {BATCH} aggregates per save: {median['bN']:10.0f} events/s")
    print(f"Ed25519 signatures, one core:                {sign_rate:10.0f} /s")
    print(f"Ed25519 signatures, {cores} cores:               {all_cores_rate:10.0f} /s")
    print(f"sequencer (catch-up incl. start, checkpoint): {leaves_per_second:10.0f} leaves/s")
    # One save's signatures are made on one core, a batch's on every core (ledger/mapper.py).
    # The ratio (a) would keep if signing were all the signed store added:
    for mode, rate in (("1", sign_rate), ("N", all_cores_rate)):
        signing_only = (1 / median[f"a{mode}"]) / (1 / median[f"a{mode}"] + 1 / rate)
        runs = " ".join(f"{ratio:.3f}" for ratio in ratios[f"b{mode}", f"a{mode}"])
        name = "ratio_per_save" if mode == "1" else "ratio_batched"
        print(f"{name}: runs {runs}; with signing the only cost added: {signing_only:.3f}")
    entry_only = statistics.median(ratios["b1", "c1"])
    print(f"(b)/(c), the signed entry's own cost, one save per command: {entry_only:.3f}")
    print(f"ratio_per_save={statistics.median(ratios['b1', 'a1']):.3f}")
    print(f"ratio_batched={statistics.median(ratios['bN', 'aN']):.3f}")


if __name__ == "__main__":
    main()
