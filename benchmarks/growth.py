"""Sign-in cost against history: a citizen after 10,000 prior sign-ins against one after 10.

In process, on the real signed store, each database in turn (SQLite; PostgreSQL when a URL is
given, in a fresh schema). Two citizens get their prior TOTP sign-ins; then both sign in, taking
turns, and the median cost of each is compared. Two ways of loading are measured:
- `cold`: the citizen is dropped from the application's cache before each sign-in, as on a
  replica that has not served them yet: it loads from the latest signed snapshot;
- `warm`: the application keeps them cached and reads only what is newer.
Before issue 14 a sign-in replayed and signature-checked the whole stream: 8.6 ms at 50 prior
sign-ins, 486 ms at 2,000.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.growth [--prior 10000] [--baseline 10] [--samples 200]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import pyotp

from civitas.config import build_config
from civitas.node import Node
from identity.application import IdentityApplication
from identity.authority import CitizenProof
from identity.citizen import Presented
from tests.civitas.private_postgres import fresh_schema

ACTOR = "service:growth"
CLIENT = ("203.0.113.7", "growth-benchmark")


class Clock:
    """The node's clock, moved one TOTP step per sign-in (each step is accepted once)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def step(self) -> None:
        self.now += timedelta(seconds=30)


class Citizen:
    def __init__(self, identity: IdentityApplication, clock: Clock, n: int) -> None:
        self.identity, self.clock = identity, clock
        personal = {"national_identifier": f"GROWTH-{n}"}
        registered = identity.register_citizen(personal, "IAL2", "", "benchmark", ACTOR)
        self.id = registered.citizen_id
        # The citizen's own proof: the activation code handed over at registration (issue 13).
        proof = CitizenProof(activation_code=registered.activation_code)
        enrollment = identity.begin_totp_enrollment(self.id, "phone", proof, ACTOR)
        seed = parse_qs(urlparse(enrollment.provisioning_uri).query)["secret"][0]
        self.totp = pyotp.TOTP(seed)
        identity.confirm_totp_enrollment(
            self.id, enrollment.authenticator_id, self.totp.at(clock.now), proof, ACTOR
        )

    def sign_in(self, *, cold: bool = False) -> float:
        """One TOTP sign-in (both calls); its cost in seconds."""
        self.clock.step()
        code = self.totp.at(self.clock.now)
        cache = self.identity.repository.cache
        if cold and cache is not None:
            with suppress(KeyError):
                cache.get(UUID(self.id), evict=True)
        started = time.perf_counter()
        challenge = self.identity.begin_authentication(self.id, "growth", ACTOR)
        self.identity.complete_authentication(
            challenge.attempt_id, Presented(totp_code=code), CLIENT, "growth", ACTOR
        )
        return time.perf_counter() - started


@contextmanager
def node_on(database: str) -> Iterator[tuple[Node, Clock]]:
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        url = database or f"sqlite:///{Path(tmp) / 'civitas.sqlite'}"
        config = build_config(data_dir=str(Path(tmp) / "data"), database=url, environ={})
        node = Node(config, clock)
        node.initialise("civitas.test/growth")
        node.upgrade_schema()
        try:
            yield node, clock
        finally:
            node.close()


def measure(database: str, prior: int, baseline: int, samples: int) -> dict[str, float]:
    """{"cold": ratio, "warm": ratio, ...}: median cost at `prior` over that at `baseline`."""
    with node_on(database) as (node, clock):
        identity = node.identity
        small, large = Citizen(identity, clock, 1), Citizen(identity, clock, 2)
        for _ in range(baseline):
            small.sign_in()
        started = time.perf_counter()
        for done in range(prior):
            large.sign_in()
            if done and done % 2000 == 0:
                print(f"  {done} prior sign-ins ({time.perf_counter() - started:.0f} s)")
        figures: dict[str, float] = {}
        for mode in ("cold", "warm"):
            costs: dict[str, list[float]] = {"small": [], "large": []}
            for _ in range(samples):  # taking turns: the machine's load falls on both alike
                costs["small"].append(small.sign_in(cold=mode == "cold"))
                costs["large"].append(large.sign_in(cold=mode == "cold"))
            small_ms = statistics.median(costs["small"]) * 1000
            large_ms = statistics.median(costs["large"]) * 1000
            print(
                f"  {mode}: {small_ms:.2f} ms after {baseline} sign-ins, "
                f"{large_ms:.2f} ms after {prior}"
            )
            figures[mode] = large_ms / small_ms
            figures[f"{mode}_ms"] = large_ms
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prior", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CIVITAS_TEST_POSTGRES", ""),
        help="a PostgreSQL URL (a fresh schema is made in it); default $CIVITAS_TEST_POSTGRES",
    )
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    print("sqlite")
    results["sqlite"] = measure("", args.prior, args.baseline, args.samples)
    if args.postgres:
        print("postgresql")
        with fresh_schema(args.postgres, prefix="growth") as url:
            results["postgresql"] = measure(url, args.prior, args.baseline, args.samples)
    for database, figures in results.items():
        print(f"{database}_sign_in_ms_cold={figures['cold_ms']:.2f}")
    for database, figures in results.items():
        for mode in ("warm", "cold"):
            print(f"{database}_growth_ratio_{mode}={figures[mode]:.2f}")


if __name__ == "__main__":
    main()
