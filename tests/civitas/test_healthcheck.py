"""The container's health probe, `python -m civitas.healthcheck`, against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from civitas.healthcheck import (
    DEFAULT_TARGET,
    ClientCertificate,
    Probe,
    ProbeError,
    check,
    probe_from,
)
from tests.civitas.certificates import CertificateAuthority
from tests.civitas.server_process import civitas, free_port, running_server


def probe(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CIVITAS_HEALTHCHECK_")}
    return subprocess.run(
        [sys.executable, "-m", "civitas.healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**inherited, **(env or {})},
        check=False,
    )


def test_a_serving_server_is_healthy(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    with running_server(tmp_path / "data", database) as (port, _):
        result = probe("--target", f"127.0.0.1:{port}")
        service = probe("--target", f"127.0.0.1:{port}", "--service", "civitas.v1.AuditService")
        unknown = probe("--target", f"127.0.0.1:{port}", "--service", "no.such.Service")
    assert (result.returncode, result.stdout) == (
        0,
        f"healthy: 127.0.0.1:{port} (plaintext): SERVING\n",
    )
    assert service.returncode == 0
    assert unknown.returncode == 1
    assert "NOT_FOUND" in unknown.stderr


def test_no_server_is_unhealthy_quickly_and_says_why() -> None:
    target = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = probe(env={"CIVITAS_HEALTHCHECK_TARGET": target})
    assert time.monotonic() - started < 5
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"unhealthy: {target} (plaintext): UNAVAILABLE: ")


def test_mutual_tls_needs_the_probe_certificate(tmp_path: Path) -> None:
    authority = CertificateAuthority()
    cert, key, ca = authority.write_server_files(tmp_path)
    probe_cert = authority.issue("civitas-healthcheck", server=False)
    (tmp_path / "probe.pem").write_bytes(probe_cert.cert_pem)
    (tmp_path / "probe.key").write_bytes(probe_cert.key_pem)
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    civitas(tmp_path / "data", database, "db", "upgrade")  # a production server migrates nothing
    tls = ("--tls-cert", str(cert), "--tls-key", str(key), "--client-ca", str(ca))
    with running_server(tmp_path / "data", database, *tls) as (port, _):
        # The way the image passes its settings: environment variables, no flags.
        env = {
            "CIVITAS_HEALTHCHECK_TARGET": f"localhost:{port}",
            "CIVITAS_HEALTHCHECK_CA": str(ca),
            "CIVITAS_HEALTHCHECK_CERT": str(tmp_path / "probe.pem"),
            "CIVITAS_HEALTHCHECK_KEY": str(tmp_path / "probe.key"),
        }
        healthy = probe(env=env)
        # A certificate made for another name still checks out when told which name to expect.
        by_address = probe("--target", f"127.0.0.1:{port}", "--server-name", "localhost", env=env)
        no_client_certificate = probe("--target", f"localhost:{port}", "--ca", str(ca))
        plaintext = probe("--target", f"localhost:{port}")
    assert (healthy.returncode, healthy.stdout) == (
        0,
        f"healthy: localhost:{port} (mtls): SERVING\n",
    )
    assert by_address.returncode == 0
    assert no_client_certificate.returncode == 1
    assert f"localhost:{port} (tls): UNAVAILABLE" in no_client_certificate.stderr
    assert "wants --cert and --key" in no_client_certificate.stderr
    assert plaintext.returncode == 1
    assert "UNAVAILABLE" in plaintext.stderr


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    """An in-process health service whose status the test sets."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(grace=None)


def test_only_serving_counts_as_healthy(health_server: tuple[str, health.HealthServicer]) -> None:
    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert check(Probe(target=target)) == (True, f"{target} (plaintext): SERVING")
    servicer.enter_graceful_shutdown()  # what `civitas serve` does on SIGTERM
    assert check(Probe(target=target)) == (False, f"{target} (plaintext): NOT_SERVING")


def test_flags_win_over_the_environment_which_wins_over_defaults(tmp_path: Path) -> None:
    env = {
        "CIVITAS_HEALTHCHECK_TARGET": "civitas-1:50051",
        "CIVITAS_HEALTHCHECK_CA": "/etc/civitas/tls/ca.pem",
        "CIVITAS_HEALTHCHECK_TIMEOUT": "1.5",
    }
    assert probe_from([], {}) == Probe(target=DEFAULT_TARGET)
    assert probe_from([], env) == Probe(
        target="civitas-1:50051", ca=Path("/etc/civitas/tls/ca.pem"), timeout=1.5
    )
    flags = ["--target", "10.0.0.5:443", "--cert", "c.pem", "--key", "c.key", "--timeout", "2"]
    assert probe_from(flags, env) == Probe(
        target="10.0.0.5:443",
        ca=Path("/etc/civitas/tls/ca.pem"),
        client=ClientCertificate(Path("c.pem"), Path("c.key")),
        timeout=2.0,
    )


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--cert", "c.pem"], {}, "go together"),
        (["--cert", "c.pem", "--key", "c.key"], {}, "needs TLS"),
        ([], {"CIVITAS_HEALTHCHECK_TIMEOUT": "soon"}, "must be seconds"),
        ([], {"CIVITAS_HEALTHCHECK_TIMEOUT": "-1"}, "must be positive"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ProbeError, match=message):
        probe_from(argv, env)


def test_a_missing_file_or_bad_flag_is_unhealthy_with_a_reason(tmp_path: Path) -> None:
    missing = probe("--ca", str(tmp_path / "absent.pem"))
    assert missing.returncode == 1
    reason = f"cannot read the CA file {tmp_path / 'absent.pem'}: No such file or directory"
    assert missing.stderr == f"unhealthy: {reason}\n"
    assert probe("--no-such-flag").returncode == 1  # never 2: Docker reserves it


def test_the_probe_does_not_load_the_node() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, civitas.healthcheck; print(' '.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = {"civitas.node", "civitas.server", "ledger", "identity", "projections", "eventsourcing"}
    assert heavy.isdisjoint(loaded)
    assert "civitas.healthcheck" in loaded
