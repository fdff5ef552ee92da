"""Prometheus metrics: what the service did (RPCs, authentications) and how far behind the
log's followers are (sequencer, projections, checkpoints), served over HTTP on a port of its own.

Each server has a registry of its own rather than `prometheus_client`'s global one, so tests
and several servers in one process never see each other's counts. The lag gauges are computed
from the database when scraped, not kept in memory by the follower threads: a replica that is
not the leader reports the same, correct values as the one that is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from civitas.config import ConfigError
from identity.application import AuthenticationRecorded
from ledger.audit import AuditLog
from ledger.entry import parse_timestamp
from ledger.errors import Unavailable
from ledger.store import LOG_NAME
from projections.registry import PROJECTIONS

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from civitas.node import Node
    from ledger.sequencer import SequencerService

log = logging.getLogger(__name__)

# Seconds. Most RPCs take milliseconds; a password check (Argon2id) about 0.1 s; a watch lasts
# as long as its client keeps it open, so the top buckets are for streams.
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600)
# Reasons an attempt is turned away before any factor is checked (identity/citizen.py, session.py).
REFUSALS = frozenset(
    {"attempt_already_used", "attempt_expired", "no_factor_presented", "assurance_too_low"}
)


def authentication_outcome(attempt: AuthenticationRecorded) -> str:
    """succeeded | failed (a factor did not match) | locked | throttled (lockout, NIST 800-63B
    section 5.2.2) | refused (spent or expired attempt, nothing presented, factor not enrolled,
    right factors below the level the relying service required)."""
    reason = attempt.reason
    if attempt.succeeded:
        return "succeeded"
    if reason.endswith("_locked"):
        return "locked"
    if reason.endswith("_throttled"):
        return "throttled"
    if reason in REFUSALS or reason.endswith("_not_enrolled"):
        return "refused"
    return "failed"


class ServiceMetrics:
    """The counters the gRPC edge and the identity application feed, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._rpc_requests = Counter(
            "civitas_rpc_requests",
            "RPCs handled, by full method name and final gRPC status code",
            ["method", "code"],
            registry=self.registry,
        )
        self._rpc_duration = Histogram(
            "civitas_rpc_duration_seconds",
            "Time from the start of an RPC to its final status (a stream: until it ends)",
            ["method"],
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self._authentications = Counter(
            "civitas_authentications",
            "Authentication attempts recorded in the ledger by this process, by factor and "
            "outcome (an attempt presenting two factors counts once for each)",
            ["method", "outcome"],
            registry=self.registry,
        )
        # Each RPC's series, looked up once: `labels()` checks and sorts its arguments under a
        # lock on every call, a twentieth of a TOTP sign-in's CPU (issue 14). Bounded: only
        # the service's own methods reach the interceptor, each with a gRPC status code.
        self._rpc_series: dict[tuple[str, grpc.StatusCode], tuple[Counter, Histogram]] = {}

    def rpc_finished(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        series = self._rpc_series.get((method, code))
        if series is None:
            series = self._rpc_series[(method, code)] = (
                self._rpc_requests.labels(method=method, code=code.name),
                self._rpc_duration.labels(method=method),
            )
        requests, duration = series
        requests.inc()
        duration.observe(seconds)

    def authentication_recorded(self, attempt: AuthenticationRecorded) -> None:
        outcome = authentication_outcome(attempt)
        for method in attempt.methods or ("none",):
            self._authentications.labels(method=method, outcome=outcome).inc()

    def watch(self, gauges: LedgerGauges) -> None:
        self.registry.register(gauges)


@dataclass(frozen=True)
class LatestCheckpoint:
    tree_size: int
    newest_entry_at: datetime | None  # None for a checkpoint of the empty tree


@dataclass(frozen=True)
class LedgerSources:
    """Where the scrape-time gauges read from; each callable is one or two indexed queries."""

    newest_notification_id: Callable[[], int | None]
    sequencer_position: Callable[[], int | None]
    projection_positions: Mapping[str, Callable[[], int | None]]
    latest_checkpoint: Callable[[], LatestCheckpoint | None]
    leaders: Mapping[str, Callable[[], bool]]
    clock: Callable[[], datetime]
    signing_halted: Callable[[], bool] = lambda: False


class LedgerGauges:
    """A custom collector: lag and checkpoint age read from the database at each scrape."""

    def __init__(self, sources: LedgerSources) -> None:
        self._sources = sources

    def describe(self) -> Iterable[Metric]:
        """The metric names without reading anything (the registry asks when registering)."""
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        up = _ledger_up()
        try:
            families = self._read()
        except Exception:
            log.warning("metrics: could not read the ledger database", exc_info=True)
            up.add_metric([], 0)
            return [up, *self._leader_families(), self._halted()]
        up.add_metric([], 1)
        return [up, *families, *self._leader_families(), self._halted()]

    def _halted(self) -> GaugeMetricFamily:
        halted = _signing_halted()
        halted.add_metric([], 1 if self._sources.signing_halted() else 0)
        return halted

    def _families(self) -> Iterator[GaugeMetricFamily]:
        yield _ledger_up()
        yield _sequencer_lag()
        yield _projection_lag()
        yield _checkpoint_size()
        yield _checkpoint_age()
        yield _leader()
        yield _signing_halted()

    def _read(self) -> list[GaugeMetricFamily]:
        sources = self._sources
        newest = sources.newest_notification_id() or 0
        sequencer = _sequencer_lag()
        sequencer.add_metric([], max(0, newest - (sources.sequencer_position() or 0)))
        projections = _projection_lag()
        for name, position in sorted(sources.projection_positions.items()):
            projections.add_metric([name], max(0, newest - (position() or 0)))
        families = [sequencer, projections]
        checkpoint = sources.latest_checkpoint()
        if checkpoint is not None:
            size = _checkpoint_size()
            size.add_metric([], checkpoint.tree_size)
            families.append(size)
        if checkpoint is not None and checkpoint.newest_entry_at is not None:
            age = _checkpoint_age()
            seconds = (sources.clock() - checkpoint.newest_entry_at).total_seconds()
            age.add_metric([], max(0.0, seconds))
            families.append(age)
        return families

    def _leader_families(self) -> list[GaugeMetricFamily]:
        leader = _leader()
        for name, holds in sorted(self._sources.leaders.items()):
            leader.add_metric([name], 1 if holds() else 0)
        return [leader]


def _ledger_up() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "civitas_ledger_up", "1 when the last scrape could read the ledger database"
    )


def _sequencer_lag() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "civitas_sequencer_lag_entries",
        "Newest notification id in the log minus the last one the sequencer put in the tree",
    )


def _projection_lag() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "civitas_projection_lag_entries",
        "Newest notification id in the log minus the projection's tracked position",
        labels=["projection"],
    )


def _checkpoint_size() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "civitas_checkpoint_tree_size", "Tree size of the latest signed checkpoint"
    )


def _checkpoint_age() -> GaugeMetricFamily:
    # Checkpoints do not store when they were signed (the C2SP note has no time), so the age is
    # measured from the newest entry the latest checkpoint covers: never less than the true age.
    return GaugeMetricFamily(
        "civitas_checkpoint_age_seconds",
        "Seconds since the newest entry covered by the latest signed checkpoint was written",
    )


def _leader() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "civitas_leader",
        "1 while this process holds the follower's leader lock",
        labels=["follower"],
    )


def _signing_halted() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "civitas_sequencer_signing_halted",
        "1 while the sequencer refuses to sign: the tree does not extend the checkpoint it "
        "last signed (a rollback or a rewritten log); an operator must re-anchor",
    )


def latest_checkpoint(audit: AuditLog) -> LatestCheckpoint | None:
    """The latest checkpoint's size and the time of the newest entry it covers."""
    try:
        checkpoint = audit.latest_checkpoint()
    except Unavailable:  # no checkpoint signed yet
        return None
    size = checkpoint.tree_size
    if size == 0:
        return LatestCheckpoint(0, None)
    newest = next(audit.entries(size - 1, size))
    return LatestCheckpoint(size, parse_timestamp(json.loads(newest.entry)["at"]))


def ledger_gauges(node: Node, sequencer: SequencerService) -> LedgerGauges:
    """The gauges of one server process: its node's views and its sequencer's leadership."""
    return LedgerGauges(
        LedgerSources(
            newest_notification_id=node.store.recorder.max_notification_id,
            sequencer_position=lambda: node.log_view.max_tracking_id(LOG_NAME),
            projection_positions={name: _position_of(node, name) for name in PROJECTIONS},
            latest_checkpoint=lambda: latest_checkpoint(node.audit),
            leaders={"sequencer": sequencer.is_leader.is_set},
            clock=lambda: datetime.now(UTC),
            signing_halted=lambda: bool(sequencer.guard and sequencer.guard.halted_reason),
        )
    )


def _position_of(node: Node, projection: str) -> Callable[[], int | None]:
    return lambda: node.projection_view(projection).max_tracking_id(LOG_NAME)


class MetricsEndpoint:
    """`/metrics` over plain HTTP on its own port (Prometheus' text exposition format)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        try:
            server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as error:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
        self._server: WSGIServer = server
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(node: Node, sequencer: SequencerService) -> MetricsEndpoint | None:
    """Start `/metrics` when the configuration asks for it (`--metrics-port`)."""
    config = node.config
    if config.metrics_port is None:
        return None
    node.metrics.watch(ledger_gauges(node, sequencer))
    endpoint = MetricsEndpoint(node.metrics.registry, config.metrics_host, config.metrics_port)
    host = f"[{config.metrics_host}]" if ":" in config.metrics_host else config.metrics_host
    log.info("civitas metrics on http://%s:%d/metrics", host, endpoint.port)
    return endpoint
