"""Benchmark civitas-verify on a big export bundle: throughput against the Ed25519 limit, peak RSS.

    python benchmarks/verify.py [--entries 1000000] [--keep DIR]

It builds a bundle (signing on every core, a checkpoint every 100k entries), runs the verifier in a
subprocess, and compares its rate with this machine's Ed25519 verification rate on one core times
the number of cores, which no verifier of this format can beat. The last two lines are machine
readable: ``ratio=<x>`` (target >= 0.70) and ``peak_rss_mb=<y>`` (target <= 256).

The bundle is written here, not by the ledger, so the benchmark runs before the writer exists; it
follows docs/ledger-format.md like the verifier's tests do.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CONTEXT = b"civitas/entry/v1\n"
ORIGIN = "benchmark.civitas.example/ledger"
START = datetime(2026, 1, 1, tzinfo=UTC)
CHECKPOINT_EVERY = 100_000
BLOCK = 10_000  # entries signed per generator task


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _at(index: int) -> str:
    return (START + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _block(start: int, end: int, entries: int) -> tuple[str, bytes]:
    """Lines and leaf hashes of entries [start, end): one aggregate per 20 events, k2 from half."""
    keys = {"k1": _key("bench-k1"), "k2": _key("bench-k2")}
    streams = max(entries // 20, 1)
    lines: list[str] = []
    leaves = bytearray()
    for i in range(start, end):
        payload = b'{"amount":%d,"currency":"EUR","reference":"INV-%08d"}' % (i * 7 % 10_000, i)
        fields = {
            "actor": "service:tax-agency",
            "at": _at(i),
            "kid": "k1" if i < entries // 2 else "k2",
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "stream": f"00000000-0000-4000-8000-{i % streams:012d}",
            "type": "ledger.Transaction.Submitted",
            "v": 1,
            "version": i // streams + 1,
        }
        entry = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        signature = keys[str(fields["kid"])].sign(CONTEXT + entry.encode())
        stored = None if i % 97 == 0 else _b64(payload)  # some payloads erased
        line = {"index": i, "entry": entry, "signature": _b64(signature), "payload": stored}
        lines.append(json.dumps(line))
        leaves += hashlib.sha256(b"\x00" + entry.encode()).digest()
    return "\n".join(lines) + "\n", bytes(leaves)


class _Tree:
    """A compact range written for the benchmark, so the bundle does not depend on the verifier."""

    def __init__(self) -> None:
        self.edge: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        n = self.size
        while n & 1:
            leaf = hashlib.sha256(b"\x01" + self.edge.pop() + leaf).digest()
            n >>= 1
        self.edge.append(leaf)
        self.size += 1

    def root(self) -> bytes:
        root = self.edge[-1]
        for node in reversed(self.edge[:-1]):
            root = hashlib.sha256(b"\x01" + node + root).digest()
        return root


def _note(size: int, root: bytes) -> str:
    name, key = "benchmark-log", _key("bench-checkpoint")
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + _raw(key)).digest()[:4]
    text = f"{ORIGIN}\n{size}\n{_b64(root)}\n"
    return f"{text}\n\u2014 {name} {_b64(key_hash + key.sign(text.encode()))}\n"


def _keyring(entries: int) -> dict[str, object]:
    rotation = START + timedelta(seconds=entries // 2)
    name, key = "benchmark-log", _key("bench-checkpoint")
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + _raw(key)).digest()[:4]
    return {
        "entry_keys": [
            {
                "kid": "k1",
                "public_key": _b64(_raw(_key("bench-k1"))),
                "not_before": START.isoformat(),
                "not_after": rotation.isoformat(),
            },
            {
                "kid": "k2",
                "public_key": _b64(_raw(_key("bench-k2"))),
                "not_before": rotation.isoformat(),
                "not_after": None,
            },
        ],
        "checkpoint_keys": [f"{name}+{key_hash.hex()}+{_b64(bytes([1]) + _raw(key))}"],
        "origin": ORIGIN,
    }


def build_bundle(folder: Path, entries: int) -> None:
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "keyring.json").write_text(json.dumps(_keyring(entries), indent=2))
    tree = _Tree()
    with (
        ProcessPoolExecutor() as pool,
        (folder / "entries.jsonl").open("w", encoding="utf-8") as out,
    ):
        starts = range(0, entries, BLOCK)
        ends = [min(start + BLOCK, entries) for start in starts]
        for lines, leaves in pool.map(_block, starts, ends, [entries] * len(ends)):
            out.write(lines)
            for offset in range(0, len(leaves), 32):
                tree.append(leaves[offset : offset + 32])
                if tree.size % CHECKPOINT_EVERY == 0 or tree.size == entries:
                    note = _note(tree.size, tree.root())
                    (folder / "checkpoints" / f"{tree.size}.txt").write_text(note)


def ed25519_rate(seconds: float = 3.0) -> float:
    """Signatures verified per second on one core, on an entry-sized message."""
    key = _key("rate")
    message = CONTEXT + b"x" * 260
    signature, public = key.sign(message), key.public_key()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(500):
            public.verify(signature, message)
        count += 500
    return count / elapsed


def measure(folder: Path) -> None:
    """Run in its own process, so RUSAGE_CHILDREN holds only the verifier and its workers."""
    command = [sys.executable, "-m", "verifier", "bundle", str(folder), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = usage.ru_maxrss  # KiB on Linux: the largest of the verifier and its workers
    report = json.loads(done.stdout) if done.stdout else {}
    result = {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_kb": peak_kb,
        "exit": done.returncode,
        "ok": report.get("ok"),
        "entries": report.get("entries"),
        "stderr": done.stderr[-2000:],
    }
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the bundle in this folder")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        measure(arguments.measure)
        return 0
    folder = arguments.keep or Path(tempfile.mkdtemp(prefix="civitas-bench-")) / "bundle"
    if not (folder / "entries.jsonl").exists():
        started = time.perf_counter()
        build_bundle(folder, arguments.entries)
        print(f"built {arguments.entries:,} entries in {time.perf_counter() - started:.1f} s")
    cores = os.cpu_count() or 1
    # This machine's speed drifts with its neighbours' load, so the one-core rate is taken just
    # before and just after the run, and the limit is their mean.
    before = ed25519_rate()
    helper = [sys.executable, __file__, "--measure", str(folder)]
    result = json.loads(subprocess.run(helper, capture_output=True, text=True, check=True).stdout)
    after = ed25519_rate()
    limit = (before + after) / 2 * cores
    if not arguments.keep:
        shutil.rmtree(folder.parent)
    if result["exit"] != 0 or not result["ok"]:
        print(f"verifier failed (exit {result['exit']}):\n{result['stderr']}", file=sys.stderr)
        return 1
    rate = result["entries"] / result["wall"]
    print(
        f"verified {result['entries']:,} entries in {result['wall']:.1f} s: {rate:,.0f} entries/s"
    )
    print(
        f"Ed25519 limit: {limit:,.0f} verifications/s = one core ({before:,.0f}/s before, "
        f"{after:,.0f}/s after) x {cores} cores"
    )
    print(
        f"verifier CPU: {result['cpu'] / result['entries'] * 1e6:.0f} us per entry, all processes"
    )
    print(f"ratio={rate / limit:.3f}")
    print(f"peak_rss_mb={result['peak_kb'] / 1024:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
