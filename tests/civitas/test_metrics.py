"""Prometheus metrics: counted at the gRPC edge and from the ledger's own events, lag read from
the database at scrape time, scraped over HTTP from a real `civitas serve`."""

from __future__ import annotations

import re
import sqlite3
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from civitas.api.interceptor import CallerInterceptor
from civitas.client import bearer
from civitas.config import ConfigError, build_config
from civitas.metrics import (
    LatestCheckpoint,
    LedgerGauges,
    LedgerSources,
    ServiceMetrics,
    authentication_outcome,
    ledger_gauges,
)
from civitas.node import Node
from identity.application import AuthenticationRecorded
from ledger.accounts import Caller
from ledger.errors import InvalidInput
from protos.civitas.v1 import history_pb2, history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as pb
from tests.civitas.probe_server import probe_channel, probe_roles
from tests.civitas.server_process import served_with_account, status_code

PASSWORD = "correct horse battery staple, twice"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def metrics_port(log_path: Path) -> int:
    match = re.search(r"civitas metrics on http://[^\s]+:(\d+)/metrics", log_path.read_text())
    assert match, log_path.read_text()
    return int(match.group(1))


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return parse(response.read().decode())


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def register_with_password(stub: identity_pb2_grpc.IdentityServiceStub, key: str) -> str:
    citizen = stub.RegisterCitizen(
        pb.RegisterCitizenRequest(
            personal_data=pb.PersonalData(
                given_name="Mari",
                family_name="Tamm",
                birth_date="1990-02-03",
                national_identifier="49002030123",
            ),
            assurance=pb.IAL2,
            evidence="passport at counter",
        ),
        metadata=bearer(key),
    )
    activation = pb.CitizenProof(activation_code=citizen.activation_code)
    stub.SetPassword(
        pb.SetPasswordRequest(citizen_id=citizen.citizen_id, password=PASSWORD, proof=activation),
        metadata=bearer(key),
    )
    return str(citizen.citizen_id)


def sign_in(
    stub: identity_pb2_grpc.IdentityServiceStub, key: str, citizen_id: str, password: str
) -> tuple[str, pb.AuthenticationResult | grpc.StatusCode]:
    """(attempt id, the result or the status the attempt failed with)."""
    challenge = stub.BeginAuthentication(
        pb.BeginAuthenticationRequest(citizen_id=citizen_id), metadata=bearer(key)
    )
    request = pb.CompleteAuthenticationRequest(attempt_id=challenge.attempt_id, password=password)
    try:
        return challenge.attempt_id, stub.CompleteAuthentication(request, metadata=bearer(key))
    except grpc.RpcError as error:
        return challenge.attempt_id, error.code()


def test_a_served_process_counts_rpcs_and_authentications_and_its_lag_reaches_zero(
    tmp_path: Path,
) -> None:
    roles = "agency:tax,registrar,relying-service"
    served = served_with_account(tmp_path, "tax-portal", roles, "--metrics-port", "0")
    with served as (key, port, log_path):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        jwks = stub.GetJwks(pb.GetJwksRequest(), metadata=bearer(key))
        assert jwks.json
        assert status_code(stub.GetJwks, pb.GetJwksRequest()) == grpc.StatusCode.UNAUTHENTICATED
        bad = pb.RegisterCitizenRequest()
        assert status_code(stub.RegisterCitizen, bad, metadata=bearer(key)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        citizen_id = register_with_password(stub, key)
        _, signed_in = sign_in(stub, key, citizen_id, PASSWORD)
        assert isinstance(signed_in, pb.AuthenticationResult)
        attempt_id, failed = sign_in(stub, key, citizen_id, "not the password at all")
        assert failed == grpc.StatusCode.UNAUTHENTICATED
        spent = pb.CompleteAuthenticationRequest(attempt_id=attempt_id, password=PASSWORD)
        assert status_code(stub.CompleteAuthentication, spent, metadata=bearer(key)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )

        # A stream counts when it ends: here the citizen's client goes away.
        history = history_pb2_grpc.HistoryServiceStub(channel)
        watch = history.WatchMyHistory(
            history_pb2.WatchMyHistoryRequest(), metadata=bearer(signed_in.token)
        )
        next(watch)  # the registration is in the timeline
        watch.cancel()

        scraped = metrics_port(log_path)
        watch_method = "civitas.v1.HistoryService/WatchMyHistory"
        wait_for(
            lambda: (
                value(
                    scrape(scraped),
                    "civitas_rpc_requests_total",
                    method=watch_method,
                    code="CANCELLED",
                )
                == 1
            )
        )

        def caught_up() -> bool:
            """No lag, and the latest checkpoint covers every event in the database."""
            now = scrape(scraped)
            lags = [found for (name, _), found in now.items() if "_lag_" in name]
            with sqlite3.connect(tmp_path / "civitas.sqlite") as connection:
                (events,) = connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()
            signed = value(now, "civitas_checkpoint_tree_size")
            # the sequencer and 3 projections
            return len(lags) == 4 and not any(lags) and signed == events

        wait_for(caught_up)
        samples = scrape(scraped)
        channel.close()

    def requests(method: str, code: str) -> float | None:
        full_name = f"civitas.v1.IdentityService/{method}"
        return value(samples, "civitas_rpc_requests_total", method=full_name, code=code)

    assert requests("GetJwks", "OK") == 1
    assert requests("GetJwks", "UNAUTHENTICATED") == 1
    assert requests("RegisterCitizen", "INVALID_ARGUMENT") == 1
    assert requests("RegisterCitizen", "OK") == 1
    assert requests("SetPassword", "OK") == 1
    assert requests("BeginAuthentication", "OK") == 2
    assert requests("CompleteAuthentication", "OK") == 1
    assert requests("CompleteAuthentication", "UNAUTHENTICATED") == 2
    duration = "civitas_rpc_duration_seconds_count"
    assert value(samples, duration, method="civitas.v1.IdentityService/GetJwks") == 2
    assert value(samples, duration, method=watch_method) == 1
    # Health and reflection are not counted, nor are methods nobody serves.
    assert not any("grpc." in dict(labels).get("method", "") for _, labels in samples)

    def authentications(outcome: str) -> float | None:
        return value(samples, "civitas_authentications_total", method="password", outcome=outcome)

    assert authentications("succeeded") == 1
    assert authentications("failed") == 1
    assert authentications("refused") == 1  # the spent attempt
    assert authentications("locked") is None
    assert value(samples, "civitas_ledger_up") == 1
    assert value(samples, "civitas_leader", follower="sequencer") == 1
    age = value(samples, "civitas_checkpoint_age_seconds")
    assert age is not None
    assert 0 <= age < 60


def test_lag_gauges_follow_the_ledger_until_followers_catch_up(node: Node) -> None:
    """On SQLite and PostgreSQL: lag is what is unsequenced, then zero; the checkpoint's age is
    measured from the newest entry it covers."""
    node.accounts.create("tax-portal", "agency:tax,registrar,relying-service", actor="cli:test")
    node.accounts.create("auditor-1", "auditor", actor="cli:test")
    sequencer, projections = node.sequencer(), node.projections()
    gauges = ledger_gauges(node, sequencer)
    newest = node.store.recorder.max_notification_id()
    assert newest is not None
    assert newest >= 2

    before = collected(gauges)
    assert value(before, "civitas_ledger_up") == 1
    assert value(before, "civitas_sequencer_lag_entries") == newest
    for projection in projections:
        lag = value(before, "civitas_projection_lag_entries", projection=projection.name)
        assert lag == newest
    assert value(before, "civitas_checkpoint_tree_size") is None  # nothing signed yet
    assert value(before, "civitas_leader", follower="sequencer") == 0

    assert sequencer.catch_up(newest, timeout=30)
    for projection in projections:
        assert projection.catch_up(newest, timeout=30)
    after = collected(gauges)
    assert value(after, "civitas_sequencer_lag_entries") == 0
    for projection in projections:
        assert value(after, "civitas_projection_lag_entries", projection=projection.name) == 0
    assert value(after, "civitas_checkpoint_tree_size") == newest
    age = value(after, "civitas_checkpoint_age_seconds")
    assert age is not None
    assert 0 <= age < 60


def collected(gauges: LedgerGauges) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in gauges.collect()
        for sample in family.samples
    }


def test_an_unreachable_database_is_reported_not_raised() -> None:
    def down() -> int | None:
        raise ConnectionError("database is down")

    gauges = LedgerGauges(
        LedgerSources(
            newest_notification_id=down,
            sequencer_position=lambda: 0,
            projection_positions={},
            latest_checkpoint=lambda: None,
            leaders={"sequencer": lambda: True},
            clock=lambda: datetime.now(UTC),
        )
    )
    samples = collected(gauges)
    assert value(samples, "civitas_ledger_up") == 0
    assert value(samples, "civitas_leader", follower="sequencer") == 1
    assert value(samples, "civitas_sequencer_lag_entries") is None


def test_checkpoint_age_is_now_minus_its_newest_entry() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    gauges = LedgerGauges(
        LedgerSources(
            newest_notification_id=lambda: 10,
            sequencer_position=lambda: 7,
            projection_positions={"timeline": lambda: None},
            latest_checkpoint=lambda: LatestCheckpoint(7, now - timedelta(seconds=42.5)),
            leaders={},
            clock=lambda: now,
        )
    )
    samples = collected(gauges)
    assert value(samples, "civitas_sequencer_lag_entries") == 3
    assert value(samples, "civitas_projection_lag_entries", projection="timeline") == 10
    assert value(samples, "civitas_checkpoint_tree_size") == 7
    assert value(samples, "civitas_checkpoint_age_seconds") == 42.5


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("password_mismatch", "failed"),
        ("totp_replayed", "failed"),
        ("passkey_sign_count_regressed", "failed"),
        ("password_locked", "locked"),
        ("totp_throttled", "throttled"),
        ("recovery_codes_not_enrolled", "refused"),
        ("attempt_already_used", "refused"),
        ("attempt_expired", "refused"),
        ("no_factor_presented", "refused"),
        ("assurance_too_low", "refused"),
    ],
)
def test_attempt_reasons_map_to_a_few_outcomes(reason: str, outcome: str) -> None:
    assert authentication_outcome(AuthenticationRecorded(("password",), False, reason)) == outcome


def test_each_presented_factor_counts_once_with_the_attempt_outcome() -> None:
    metrics = ServiceMetrics()
    metrics.authentication_recorded(AuthenticationRecorded(("password", "totp"), True, ""))
    metrics.authentication_recorded(AuthenticationRecorded((), False, "no_factor_presented"))
    metrics.authentication_recorded(AuthenticationRecorded(("totp",), False, "totp_mismatch"))
    samples = parse_registry(metrics)
    name = "civitas_authentications_total"
    assert value(samples, name, method="password", outcome="succeeded") == 1
    assert value(samples, name, method="totp", outcome="succeeded") == 1
    assert value(samples, name, method="totp", outcome="failed") == 1
    assert value(samples, name, method="none", outcome="refused") == 1


def parse_registry(metrics: ServiceMetrics) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
    }


# --- the interceptor in process: codes no real servicer can be made to produce on demand -----


def crash(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise RuntimeError("a bug")


def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise InvalidInput.of("field", "is wrong")


def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


@pytest.fixture
def test_server() -> Iterator[tuple[grpc.Channel, ServiceMetrics]]:
    metrics = ServiceMetrics()

    def authenticate(context: grpc.ServicerContext) -> Caller:
        return Caller("tester", "admin")

    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
    }
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rpc")
    interceptor = CallerInterceptor(
        authenticate, probe_roles(handlers), workers, metrics.rpc_finished
    )
    with probe_channel(handlers, interceptor, workers) as channel:
        yield channel, metrics


def test_internal_errors_and_domain_errors_are_counted_with_their_codes(
    test_server: tuple[grpc.Channel, ServiceMetrics],
) -> None:
    channel, metrics = test_server

    def probe(name: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
        return channel.unary_unary(f"/test.Probe/{name}", bytes, bytes)

    assert probe("Echo")(b"hi") == b"hi"
    assert status_code(probe("Crash"), b"") == grpc.StatusCode.INTERNAL
    assert status_code(probe("Refuse"), b"") == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(probe("Missing"), b"") == grpc.StatusCode.UNIMPLEMENTED
    samples = parse_registry(metrics)
    name = "civitas_rpc_requests_total"
    assert value(samples, name, method="test.Probe/Echo", code="OK") == 1
    assert value(samples, name, method="test.Probe/Crash", code="INTERNAL") == 1
    assert value(samples, name, method="test.Probe/Refuse", code="INVALID_ARGUMENT") == 1
    assert not any(dict(labels).get("method") == "test.Probe/Missing" for _, labels in samples)


def test_metrics_and_log_settings_come_from_flags_then_the_environment() -> None:
    env = {"CIVITAS_METRICS_PORT": "9464", "CIVITAS_LOG_FORMAT": "json"}
    assert build_config(environ={}).metrics_port is None  # off unless asked for
    from_env = build_config(host="0.0.0.0", environ=env)
    assert (from_env.metrics_port, from_env.metrics_host, from_env.log_format) == (
        9464,
        "0.0.0.0",
        "json",
    )
    flags = build_config(metrics_port=0, metrics_host="::1", log_format="text", environ=env)
    assert (flags.metrics_port, flags.metrics_host, flags.log_format) == (0, "::1", "text")
    for bad in ({"CIVITAS_METRICS_PORT": "http"}, {"CIVITAS_METRICS_PORT": "70000"}):
        with pytest.raises(ConfigError, match="CIVITAS_METRICS_PORT"):
            build_config(environ=bad)
    with pytest.raises(ConfigError, match="log format"):
        build_config(environ={"CIVITAS_LOG_FORMAT": "xml"})
