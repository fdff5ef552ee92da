"""Authentication throughput against a real server: TOTP and Argon2id password logins.

A `civitas serve` subprocess on SQLite, 16 concurrent gRPC clients, each authentication being
`BeginAuthentication` + `CompleteAuthentication` (two RPCs, two signed events and a session).
Printed beside Keycloak's published sizing anchor (about 15 password logins per second per vCPU,
Keycloak's "Concepts for sizing CPU and memory resources"), measured on the same machine here.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.auth [--seconds 20] [--clients 16] [--citizens 160]
        [--py-spy /path/to/py-spy]

With `--py-spy`, the server is sampled during the TOTP run and its CPU per sign-in is printed
by part (benchmarks/server_profile.py; docs/decisions/totp-sign-in-profile.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import server_profile
from civitas.client import CivitasClient, activation, channel_for
from civitas.totp_app import TotpApp
from tests.civitas.server_process import ServerProcess, add_account, civitas

PASSWORD = "benchmark passphrase of some length"
KEYCLOAK_PASSWORD_LOGINS_PER_VCPU = 15


def register(client: CivitasClient, n: int) -> tuple[str, str]:
    """A new citizen's id and activation code (their first factor needs it)."""
    personal_data = {"national_identifier": f"BENCH-{n}-{time.monotonic_ns()}"}
    citizen = client.register(personal_data, "IAL1")
    return citizen.citizen_id, citizen.activation_code


def run_clients(
    clients: int, seconds: float, one: Callable[[int], object]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            one(index)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, latencies


def report(name: str, wall: float, latencies: list[float]) -> float:
    rate = len(latencies) / wall
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<22} {rate:8.1f} auth/s   p50 {quantiles[49] * 1000:7.1f} ms   "
        f"p99 {quantiles[98] * 1000:7.1f} ms   ({len(latencies)} in {wall:.1f} s)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--citizens", type=int, default=160, help="TOTP citizens per client (each step once)"
    )
    parser.add_argument(
        "--py-spy", default="", help="a py-spy executable: profile the server's TOTP sign-ins"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        database = f"sqlite:///{Path(tmp) / 'civitas.sqlite'}"
        civitas(data_dir, database, "init")
        key = add_account(data_dir, database, "bench", "agency:bench,registrar,relying-service")
        server = ServerProcess(data_dir, database)
        try:
            client = CivitasClient(channel_for(server.target), key)
            totp_rate, totp_cpu = bench_totp(
                client, args.clients, args.seconds, args.citizens, server.process.pid, args.py_spy
            )
            print(
                f"TOTP server CPU        {totp_cpu * 1000:8.2f} ms per sign-in "
                f"({1 / totp_cpu:.0f} sign-ins/s per core)"
            )
            password_rate = bench_password(client, args.clients, args.seconds)
        finally:
            server.stop()
    cores = os.cpu_count() or 1
    anchor = KEYCLOAK_PASSWORD_LOGINS_PER_VCPU * cores
    print(
        f"Keycloak sizing anchor: {KEYCLOAK_PASSWORD_LOGINS_PER_VCPU} password logins/s per vCPU "
        f"x {cores} vCPU = {anchor} /s"
    )
    print(f"ratio_password_vs_keycloak={password_rate / anchor:.2f}")
    print(f"totp_auth_per_s={totp_rate:.1f}")
    print(f"totp_auth_per_core_s={1 / totp_cpu:.1f}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux /proc, proc(5))."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_totp(
    client: CivitasClient,
    clients: int,
    seconds: float,
    per_client: int,
    server_pid: int,
    py_spy: str = "",
) -> tuple[float, float]:
    """(sign-ins per second, server CPU seconds per sign-in)."""
    # A TOTP step is accepted once per authenticator (RFC 6238 section 5.2), so each client
    # walks its own pool of citizens, taking the next unused step still inside the window.
    pools: list[list[tuple[str, TotpApp]]] = [[] for _ in range(clients)]

    def enrol(index: int) -> None:
        for n in range(per_client):
            citizen, code = register(client, index * 100_000 + n)
            pools[index].append((citizen, client.enrol_totp(citizen, proof=activation(code))))

    threads = [threading.Thread(target=enrol, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    waits = [0]

    def one(index: int) -> None:
        while True:
            now_step = int(time.time()) // 30
            for citizen, app in pools[index]:
                if app.last_step < now_step + 1:  # a step inside the window is unspent
                    client.authenticate_totp(citizen, app)
                    return
            waits[0] += 1  # pool spent: the figure would understate the server; say so
            time.sleep(0.05)

    # What the server spends per sign-in, whatever else the machine is doing: the figure behind
    # the per-core target (a wall-clock rate moves with the machine's load).
    cpu_before = cpu_seconds(server_pid)
    with profiled(py_spy, server_pid, seconds) as finished:
        wall, latencies = run_clients(clients, seconds, one)
        finished.append(len(latencies))
    cpu = (cpu_seconds(server_pid) - cpu_before) / len(latencies)
    if waits[0]:
        print(f"warning: clients ran out of unspent TOTP steps {waits[0]} times; raise --citizens")
    return report("TOTP", wall, latencies), cpu


@contextmanager
def profiled(py_spy: str, pid: int, seconds: float) -> Iterator[list[int]]:
    """With a py-spy, sample *pid* while the block runs, then print its CPU per sign-in by
    part; the block appends the number of sign-ins to the list it is given."""
    finished: list[int] = []
    if not py_spy:
        yield finished
        return
    with tempfile.TemporaryDirectory() as tmp:
        stacks = Path(tmp) / "stacks.txt"
        before = server_profile.thread_cpu(pid)
        sampler = server_profile.record(py_spy, pid, max(1, int(seconds) - 1), stacks)
        yield finished
        used = server_profile.used_between(before, server_profile.thread_cpu(pid))
        sampler.wait()
        lines = stacks.read_text().splitlines() if stacks.exists() else []
        print("server CPU per TOTP sign-in, by part (py-spy):")
        for part, ms in server_profile.summarise(lines, used, finished[0]):
            print(f"  {part:<52} {ms:6.2f} ms")


def bench_password(client: CivitasClient, clients: int, seconds: float) -> float:
    citizens = []
    for c in range(clients):
        citizen, code = register(client, 100_000 + c)
        client.set_password(citizen, PASSWORD, proof=activation(code))
        citizens.append(citizen)
    wall, latencies = run_clients(
        clients, seconds, lambda i: client.authenticate_password(citizens[i], PASSWORD)
    )
    return report("password (Argon2id)", wall, latencies)


if __name__ == "__main__":
    main()
