"""The gRPC server: services, health, reflection, transport security, and a clean shutdown.

It is a `grpc.aio` server (`server_loop.py`): a stream waits on the event loop, so thousands
of idle watches cost memory, not worker threads; unary calls do their work in a pool of workers
(`rpc_workers` threads, named rpc_*)."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from civitas.api.audit import AuditServicer
from civitas.api.authentication import CallerAuthenticator
from civitas.api.caller_limits import CallerAllowance
from civitas.api.data_key_proofs import DataKeyProofStream
from civitas.api.field_limits import MAX_REQUEST_BYTES
from civitas.api.history import HistoryServicer
from civitas.api.identity import IdentityServicer
from civitas.api.interceptor import CallerInterceptor
from civitas.api.projection_rows import ProjectionRowStream
from civitas.api.roles import AUDIT_SERVICE, ROLES, SERVICES
from civitas.api.transactions import TransactionServicer
from civitas.config import Config, ConfigError
from civitas.garbage_collector import settle_after_startup
from civitas.metrics import serve_metrics
from civitas.node import Node
from civitas.server_loop import ServerLoop
from civitas.server_tls import ServerTls, read_server_tls
from civitas.tiles_http import serve_tiles
from ledger.sequencer import SequencerService
from ledger.witnessing import WitnessFeeder
from projections.service import ProjectionService
from protos.civitas.v1 import (
    audit_pb2_grpc,
    history_pb2_grpc,
    identity_pb2_grpc,
    transaction_pb2_grpc,
)

log = logging.getLogger("civitas.server")
# grpc.aio's health service: in grpcio-health-checking, not in its type stubs.
AsyncHealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]

# HTTP/2 streams one client connection may hold open at once (gRPC's default is unlimited on
# the server, but clients and proxies assume 100); per-caller limits bound what one caller holds.
MAX_STREAMS_PER_CONNECTION = 1000
MAX_PENDING_CALLS = 20_000


def build_server(node: Node) -> tuple[ServerLoop, Any]:
    """The server, on its own event loop (`server_loop.py`), and its health service."""
    limits = node.config.call_limits
    health_servicer = AsyncHealthServicer()
    workers = ThreadPoolExecutor(max_workers=limits.rpc_workers, thread_name_prefix="rpc")
    interceptor = _caller_interceptor(node, workers)

    def build() -> grpc.aio.Server:
        server = grpc.aio.server(
            # The interceptor runs every intercepted unary call's work in `workers` itself;
            # only a synchronous handler it passes through (none today) would use this.
            migration_thread_pool=workers,
            interceptors=[interceptor],
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),  # the largest valid one
                # gRPC shares a port with any process that binds it too: a second server on a
                # taken port would start and answer half the calls. Without it, binding fails.
                ("grpc.so_reuseport", 0),
                # Watches are long and many per client connection (a portal multiplexes its
                # citizens' watches): HTTP/2's default of 100 streams would cap them.
                ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
                # Calls arrived but not yet taken up by the loop: past 1,000 (gRPC's default)
                # gRPC cancels them, which a reconnect burst after a restart reaches at once.
                # Measured: 4,000 watches opened together, 1,239 CANCELLED; raised, none.
                ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
                ("grpc.server.max_pending_requests_hard_limit", 2 * MAX_PENDING_CALLS),
            ],
        )
        _add_services(node, server, health_servicer)
        return server

    loop = ServerLoop(build, workers)
    loop.before_stop(interceptor.end_watches)
    for name in ("", *SERVICES):
        loop.run(health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING))
    return loop, health_servicer


def _caller_interceptor(node: Node, workers: ThreadPoolExecutor) -> CallerInterceptor:
    limits = node.config.call_limits
    authenticator = CallerAuthenticator(node.accounts, node.identity.citizen_caller)
    return CallerInterceptor(
        authenticator.authenticate,
        ROLES,
        workers,
        node.metrics.rpc_finished,
        CallerAllowance(limits.streams_per_caller, limits.calls_per_caller),
        watch_lifetime=limits.stream_lifetime_seconds,
        recheck_seconds=limits.stream_recheck_seconds,
    )


def _add_services(node: Node, server: grpc.aio.Server, health_servicer: Any) -> None:
    audit_pb2_grpc.add_AuditServiceServicer_to_server(
        AuditServicer(
            node.audit,
            ProjectionRowStream(node.audited_projections),
            DataKeyProofStream(node.data_key_presence),
        ),
        server,
    )
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(node.identity), server)
    history_pb2_grpc.add_HistoryServiceServicer_to_server(HistoryServicer(node.history), server)
    transaction_pb2_grpc.add_TransactionServiceServicer_to_server(
        TransactionServicer(node.transactions, node.cases, node.timeline_changes), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )


def report_signing_halt(
    sequencer: SequencerService, server: ServerLoop, health_servicer: Any
) -> None:
    """The audit service answers NOT_SERVING while the sequencer refuses to sign a fork: its
    checkpoints stop growing, and a load balancer or an operator's probe should see it. (The
    sequencer's thread tells it; the aio health service is set on the server's loop.)"""
    if sequencer.guard is None:
        return
    sequencer.guard.on_change(
        lambda reason: server.submit(
            health_servicer.set(
                AUDIT_SERVICE,
                health_pb2.HealthCheckResponse.SERVING
                if reason is None
                else health_pb2.HealthCheckResponse.NOT_SERVING,
            )
        )
    )


def bind(server: ServerLoop, config: Config, tls: ServerTls | None) -> int:
    address = f"{config.host}:{config.port}"
    try:
        return _add_port(server, address, tls)
    except RuntimeError:  # gRPC says no more than this; the TLS files were checked before
        raise ConfigError(f"cannot listen on {address}: is another process using it?") from None


def _add_port(server: ServerLoop, address: str, tls: ServerTls | None) -> int:
    if tls is None:
        log.warning(
            "!!! DEVELOPMENT MODE: plaintext gRPC on %s, no TLS. API keys cross the wire in "
            "clear. Never use this outside your own machine; pass --tls-cert/--tls-key. !!!",
            address,
        )
        return server.add_insecure_port(address)
    credentials = grpc.ssl_server_credentials(
        [(tls.key, tls.certificate_chain)],
        root_certificates=tls.client_ca,
        # gRPC can only require a client certificate or not ask for one: with a client CA this
        # is mutual TLS, where the certificate names the account; without, callers use API keys.
        require_client_auth=tls.client_ca is not None,
    )
    return server.add_secure_port(address, credentials)


def serve(config: Config) -> None:
    config.check_transport()
    config.check_limits()
    config.call_limits.check()
    # Before the node: a refused start leaves no data folder behind.
    tls = read_server_tls(config.tls) if config.tls else None
    node = Node(config)
    node.keys.check_private_files()  # a key others can read is refused before anything starts
    if config.create_schema:
        node.initialise()
    elif not node.keys.exists():  # never a keyring of its own beside the replicas' shared one
        raise ConfigError(f"no keys in {config.keys_dir}: run `civitas db upgrade` first")
    node.prepare_schema()
    server, health_servicer = build_server(node)
    port = bind(server, config, tls)
    sequencer, projections = node.sequencer(), node.projections()
    report_signing_halt(sequencer, server, health_servicer)
    followers: list[SequencerService | ProjectionService | WitnessFeeder] = [
        sequencer,
        *projections,
        *node.witness_feeders(sequencer.is_leader.is_set),
    ]
    # Bound before any follower starts: a taken port must not leave leader locks held.
    metrics = serve_metrics(node, sequencer)
    tiles = serve_tiles(node)
    for follower in followers:
        follower.start()
    settle_after_startup()  # its figures: civitas/garbage_collector.py
    server.start()
    log.info("civitas serving on %s:%d (data in %s)", config.host, port, config.data_dir)

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    log.info("shutting down")
    server.run(health_servicer.enter_graceful_shutdown())
    server.stop(grace=5).wait()
    if metrics is not None:
        metrics.close()
    if tiles is not None:
        tiles.close()
    for follower in followers:
        follower.stop()
    node.close()
