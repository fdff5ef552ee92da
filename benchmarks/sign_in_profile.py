"""Where a TOTP sign-in's CPU goes, in process (no gRPC): each part's share under cProfile.

The identity application on the real signed SQLite store, as `benchmarks/growth.py` builds it:
citizens sign in in turn (`BeginAuthentication` then `CompleteAuthentication`), the clock moved
one TOTP step each time. cProfile times each part inclusively with the process's CPU clock, so
the figures hold whatever else the machine is doing; profiling itself inflates every part (about
threefold here), so read the shares, and the unprofiled CPU figure printed last. The gRPC edge
and the log's followers are not in this figure: docs/decisions/totp-sign-in-profile.md has
those, measured on a server with py-spy.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.sign_in_profile [--sign-ins 1000] [--citizens 20]
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import time
from collections.abc import Callable
from typing import Any, Final

from eventsourcing.persistence import EventStore, JSONTranscoder

from benchmarks.growth import Citizen, node_on
from identity import totp
from identity.application_base import IdentityBase
from identity.personal_data import DataKeyStore
from identity.token_issuance import TokenIssuer
from ledger.mapper import SignedMapper
from ledger.repository import CachedRepository, Frozen
from ledger.store import LedgerApplication, SQLiteLedgerRecorder

# (part, the function whose inclusive time it is). Parts nest: "aggregate loads" holds the
# store reads and the cache's unpickling, for one.
PARTS: Final[tuple[tuple[str, Callable[..., Any]], ...]] = (
    ("whole sign-in", Citizen.sign_in),
    ("aggregate loads", CachedRepository.get),
    ("  store reads for newer events", EventStore.get),
    ("  cache unpickling", Frozen.thaw),
    ("saves", LedgerApplication.save),
    ("  entry signing", SignedMapper.to_stored_events),
    ("  inserts and commits", SQLiteLedgerRecorder.insert_events),
    ("  cache pickling", Frozen.of),
    ("  snapshots", LedgerApplication._take_snapshots),
    ("  notifications", IdentityBase._notify),
    ("data key read and unwrap", DataKeyStore.sealer),
    ("TOTP check", totp.matching_step),
    ("session token (JWT)", TokenIssuer.issue),
    ("event JSON encoding", JSONTranscoder.encode),
)


def _key(function: Callable[..., Any]) -> tuple[str, int, str]:
    """How pstats names a function: (file, first line, name)."""
    code = inspect.unwrap(function).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def profile(sign_ins: int, citizens: int) -> tuple[float, list[tuple[str, float]]]:
    """(CPU ms per sign-in without the profiler, [(part, profiled CPU ms per sign-in)])."""
    with node_on("") as (node, clock):
        people = [Citizen(node.identity, clock, n) for n in range(citizens)]
        for person in people:  # warm: cached, as on a server that has served them
            person.sign_in()
        started = time.process_time()
        for n in range(sign_ins):
            people[n % citizens].sign_in()
        plain = (time.process_time() - started) / sign_ins * 1000
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for n in range(sign_ins):
            people[n % citizens].sign_in()
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts = []
    for name, function in PARTS:
        cumulative = stats.get(_key(function), (0, 0, 0, 0.0))[3]
        parts.append((name, cumulative / sign_ins * 1000))
    return plain, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sign-ins", type=int, default=1000)
    parser.add_argument("--citizens", type=int, default=20)
    args = parser.parse_args()
    plain, parts = profile(args.sign_ins, args.citizens)
    whole = parts[0][1]
    print(f"{'part':<34} {'ms/sign-in':>10} {'share':>6}   (profiled CPU)")
    for name, ms in parts:
        print(f"{name:<34} {ms:10.3f} {ms / whole:6.1%}")
    print(f"sign_in_cpu_ms={plain:.3f}")
    print(f"sign_ins_per_core_s={1000 / plain:.1f}")


if __name__ == "__main__":
    main()
