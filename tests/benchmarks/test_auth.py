"""The server benchmarks run end to end at a small size and print their figures last."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT


def figures(*command: str) -> dict[str, float]:
    """The `name=value` lines a benchmark prints."""
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    return {
        name: float(value)
        for name, value in re.findall(r"^(\w+)=([\d.]+)$", result.stdout, re.MULTILINE)
    }


def test_the_authentication_benchmark_measures_totp_and_passwords() -> None:
    printed = figures("benchmarks.auth", "--seconds", "1", "--clients", "2", "--citizens", "3")
    assert printed["totp_auth_per_s"] > 0
    assert printed["totp_auth_per_core_s"] > 0
    assert printed["ratio_password_vs_keycloak"] > 0


def test_the_unary_call_benchmark_measures_served_and_refused_calls() -> None:
    served = figures("benchmarks.unary_calls", "--seconds", "1", "--clients", "2")
    refused = figures("benchmarks.unary_calls", "--seconds", "1", "--clients", "2", "--refused")
    assert served["served_call_server_cpu_us"] > 0
    assert refused["refused_call_server_cpu_us"] > 0
