"""`civitas-witness` as a real subprocess, which a test may SIGKILL like a power cut."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


def witness_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "witness", *args]


def init_witness(folder: Path, name: str) -> str:
    """Make the witness's key; returns its cosignature/v1 verifier key."""
    done = subprocess.run(
        witness_command("init", "--data", str(folder), "--name", name),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


class WitnessProcess:
    def __init__(
        self, folder: Path, log_keys: list[str], crash: str | None = None, port: int = 0
    ) -> None:
        self.folder, self._log_keys = folder, log_keys
        self.log_path = folder.parent / f"{folder.name}-{time.monotonic_ns()}.log"
        env = {**os.environ}
        env.pop("CIVITAS_WITNESS_CRASH", None)
        if crash:
            env["CIVITAS_WITNESS_CRASH"] = crash
        arguments = ["serve", "--data", str(folder), "--listen", f"127.0.0.1:{port}"]
        for vkey in log_keys:
            arguments += ["--log-key", vkey]
        with self.log_path.open("w") as log_file:
            self.process = subprocess.Popen(
                witness_command(*arguments), stdout=log_file, stderr=subprocess.STDOUT, env=env
            )
        self.port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"listening on http://[^:]+:(\d+)", self.log_path.read_text())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                raise AssertionError(f"civitas-witness exited:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"civitas-witness did not start:\n{self.log_path.read_text()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def restart(self, crash: str | None = None) -> WitnessProcess:
        """The same witness again on the same port, after a kill or a stop."""
        return WitnessProcess(self.folder, self._log_keys, crash=crash, port=self.port)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
