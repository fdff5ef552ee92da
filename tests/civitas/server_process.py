"""Runs `civitas` as a real subprocess, the way an operator would."""

from __future__ import annotations

import itertools
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc


def civitas_command(data_dir: Path, database: str, *args: str) -> list[str]:
    """The command line of one `civitas` subcommand on a given data folder and database."""
    return [
        sys.executable,
        "-m",
        "civitas.cli",
        "--data-dir",
        str(data_dir),
        "--database",
        database,
        *args,
    ]


def civitas(
    data_dir: Path, database: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one subcommand to its end; with `check`, a non-zero exit raises."""
    return subprocess.run(
        civitas_command(data_dir, database, *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def add_account(data_dir: Path, database: str, name: str, role: str) -> str:
    """Create a service account with the CLI; returns the API key it prints once."""
    output = civitas(data_dir, database, "accounts", "add", name, "--role", role).stdout
    return next(line for line in output.splitlines() if line.startswith("cvk."))


class ServerProcess:
    """One `civitas serve` subprocess on a free port, which a test may kill like a crash would."""

    def __init__(self, data_dir: Path, database: str, *args: str, port: int = 0) -> None:
        """`port` 0 picks a free one; a fixed port lets a restarted replica keep its address."""
        self.data_dir, self._database, self._args = data_dir, database, args
        self.log_path = data_dir.parent / f"serve-{time.monotonic_ns()}.log"
        with self.log_path.open("w") as log_file:
            self.process = subprocess.Popen(
                civitas_command(data_dir, database, "serve", "--port", str(port), *args),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            self.port = _wait_for_port(self.process, self.log_path)
        except AssertionError:
            self.kill()
            raise

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when a machine dies."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> ServerProcess:
        """The same server again, on the same port (after a kill or a stop)."""
        return ServerProcess(self.data_dir, self._database, *self._args, port=self.port)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def running_server(data_dir: Path, database: str, *args: str) -> Iterator[tuple[int, Path]]:
    """Start `civitas serve` on a free port; yields (port, log file) once it accepts calls."""
    server = ServerProcess(data_dir, database, *args)
    try:
        yield server.port, server.log_path
    finally:
        server.stop()


@contextmanager
def served_with_account(
    tmp_path: Path, name: str, role: str, *args: str
) -> Iterator[tuple[str, int, Path]]:
    """A new SQLite ledger (tmp_path/civitas.sqlite, data folder tmp_path/data) with one service
    account, served by `civitas serve *args`; yields (the account's API key, port, log file)."""
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    key = add_account(data_dir, database, name, role)
    with running_server(data_dir, database, *args) as (port, log_path):
        yield key, port, log_path


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"civitas serving on [^:\s]+:(\d+)", log_path.read_text())
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            raise AssertionError(f"civitas serve exited:\n{log_path.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"civitas serve did not start:\n{log_path.read_text()}")


# Under pytest-xdist the workers run side by side: each draws ports from a band of its own, below
# the kernel's ephemeral range (32768 and up on Linux), so two workers never pick the same port
# and no outgoing connection takes one between the pick and the bind.
PORTS_PER_WORKER = 500
FIRST_WORKER_PORT = 20_000
_next_port = itertools.count(random.randrange(PORTS_PER_WORKER))


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", …; unset without xdist
    if not worker.startswith("gw"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
            return port
    band = FIRST_WORKER_PORT + int(worker[2:]) * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        candidate = band + next(_next_port) % PORTS_PER_WORKER
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise RuntimeError(f"no free port in {band}-{band + PORTS_PER_WORKER - 1}")


def status_code(call: Callable[..., object], *args: object, **kwargs: object) -> grpc.StatusCode:
    """The status a failing call ends with (the call must fail)."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    raise AssertionError("the call succeeded")
