"""`python -m civitas.healthcheck`: exit 0 only when a server's gRPC health service says SERVING.

The container's HEALTHCHECK runs this every few seconds, so it imports grpc and the health stubs
only, never the node. Settings come from flags, else from the CIVITAS_HEALTHCHECK_* variables the
image sets, else the defaults: plaintext to 127.0.0.1:50051; TLS when a CA file is given, mutual
TLS when a client certificate and key are given too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT_SECONDS = 3.0
# Docker reads 0 as healthy and 1 as unhealthy, and reserves 2: every failure here exits 1.
HEALTHY, UNHEALTHY = 0, 1


class ProbeError(Exception):
    """The probe cannot be made as configured; the message says which setting to change."""


@dataclass(frozen=True)
class ClientCertificate:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Probe:
    target: str = DEFAULT_TARGET
    service: str = ""  # "" asks about the server as a whole
    ca: Path | None = None
    client: ClientCertificate | None = None
    server_name: str | None = None  # the name the server's certificate carries, if not the target's
    timeout: float = DEFAULT_TIMEOUT_SECONDS


def check(probe: Probe) -> tuple[bool, str]:
    """Ask the health service once; (serving, one line saying what was found)."""
    credentials = _credentials(probe)
    # A probe of the local server must not wander off through an HTTP proxy from the environment.
    options: list[tuple[str, str | int]] = [("grpc.enable_http_proxy", 0)]
    if probe.server_name:
        options.append(("grpc.ssl_target_name_override", probe.server_name))
    channel = (
        grpc.secure_channel(probe.target, credentials, options)
        if credentials
        else grpc.insecure_channel(probe.target, options)
    )
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=probe.service), timeout=probe.timeout
            )
        except grpc.RpcError as error:
            found = f"{error.code().name}: {error.details()}"
            return False, f"{_subject(probe)}: {found}{_hint(probe, error)}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return response.status == health_pb2.HealthCheckResponse.SERVING, f"{_subject(probe)}: {status}"


def _hint(probe: Probe, error: grpc.RpcError) -> str:
    """A server with a client CA closes the handshake with no reason a caller can see."""
    handshake_refused = error.code() == grpc.StatusCode.UNAVAILABLE and "refused" not in str(
        error.details()
    )
    if handshake_refused and probe.ca and not probe.client:
        return " (a server with --client-ca also wants --cert and --key)"
    return ""


def _subject(probe: Probe) -> str:
    scheme = "mtls" if probe.client else "tls" if probe.ca else "plaintext"
    service = f" service {probe.service!r}" if probe.service else ""
    return f"{probe.target} ({scheme}){service}"


def _credentials(probe: Probe) -> grpc.ChannelCredentials | None:
    if probe.ca is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(probe.ca, "CA file"),
        private_key=_read(probe.client.key, "client key") if probe.client else None,
        certificate_chain=_read(probe.client.cert, "client certificate") if probe.client else None,
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ProbeError(f"cannot read the {what} {path}: {error.strerror}") from None


def probe_from(argv: Sequence[str], environ: Mapping[str, str]) -> Probe:
    """Flags win over the CIVITAS_HEALTHCHECK_* variables, which win over the defaults."""
    args = _parser().parse_args(argv)

    def setting(flag: str | None, name: str) -> str | None:
        return flag or environ.get(f"CIVITAS_HEALTHCHECK_{name}") or None

    ca, cert, key = setting(args.ca, "CA"), setting(args.cert, "CERT"), setting(args.key, "KEY")
    if bool(cert) != bool(key):
        raise ProbeError("a client certificate and its key go together (--cert and --key)")
    if cert and not ca:
        raise ProbeError("a client certificate needs TLS: give the server's CA with --ca")
    timeout = args.timeout if args.timeout is not None else _seconds(environ)
    return Probe(
        target=setting(args.target, "TARGET") or DEFAULT_TARGET,
        service=args.service,
        ca=Path(ca) if ca else None,
        client=ClientCertificate(Path(cert), Path(key)) if cert and key else None,
        server_name=setting(args.server_name, "SERVER_NAME"),
        timeout=timeout,
    )


def _seconds(environ: Mapping[str, str]) -> float:
    text = environ.get("CIVITAS_HEALTHCHECK_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise ProbeError(f"CIVITAS_HEALTHCHECK_TIMEOUT must be seconds, not {text!r}") from None
    if value <= 0:
        raise ProbeError("CIVITAS_HEALTHCHECK_TIMEOUT must be positive")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(UNHEALTHY, f"{self.prog}: {message}\n")


def _positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m civitas.healthcheck", description=__doc__)
    parser.add_argument(
        "--target", help=f"host:port ($CIVITAS_HEALTHCHECK_TARGET, {DEFAULT_TARGET})"
    )
    parser.add_argument(
        "--ca", help="CA of the server's certificate: TLS ($CIVITAS_HEALTHCHECK_CA)"
    )
    parser.add_argument("--cert", help="client certificate for mTLS ($CIVITAS_HEALTHCHECK_CERT)")
    parser.add_argument("--key", help="its private key ($CIVITAS_HEALTHCHECK_KEY)")
    parser.add_argument(
        "--server-name",
        help="name to expect in the server's certificate ($CIVITAS_HEALTHCHECK_SERVER_NAME)",
    )
    parser.add_argument("--service", default="", help="one service's status (default: the server)")
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        help=f"seconds ($CIVITAS_HEALTHCHECK_TIMEOUT, {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        probe = probe_from(
            sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ
        )
        serving, summary = check(probe)
    except ProbeError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return UNHEALTHY
    if serving:
        print(f"healthy: {summary}")
        return HEALTHY
    print(f"unhealthy: {summary}", file=sys.stderr)
    return UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
