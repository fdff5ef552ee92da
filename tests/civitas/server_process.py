"""Runs `civitas` as a real subprocess, the way an operator would."""

from __future__ import annotations

import re
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


def civitas(data_dir: Path, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        civitas_command(data_dir, database, *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def add_account(data_dir: Path, database: str, name: str, role: str) -> str:
    """Create a service account with the CLI; returns the API key it prints once."""
    output = civitas(data_dir, database, "accounts", "add", name, "--role", role).stdout
    return next(line for line in output.splitlines() if line.startswith("cvk."))


@contextmanager
def running_server(data_dir: Path, database: str, *args: str) -> Iterator[tuple[int, Path]]:
    """Start `civitas serve` on a free port; yields (port, log file) once it accepts calls."""
    log_path = data_dir.parent / f"serve-{time.monotonic_ns()}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            civitas_command(data_dir, database, "serve", "--port", "0", *args),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            port = _wait_for_port(process, log_path)
            yield port, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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


def bearer(api_key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {api_key}")]


def status_code(call: Callable[..., object], *args: object, **kwargs: object) -> grpc.StatusCode:
    """The status a failing call ends with (the call must fail)."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    raise AssertionError("the call succeeded")
