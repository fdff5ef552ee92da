"""No caller can starve the others (issue 14): each holds at most its allowance of streams and
calls in flight, refused with RESOURCE_EXHAUSTED and RetryInfo while everyone else, the health
check included, is served; a watch ends after its lifetime and resumes from its last position
losing nothing; and a server with watches open still stops cleanly on SIGTERM.

Streams against a real `civitas serve` subprocess; calls in flight against the interceptor in
process, where a handler can be held open on demand.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civitas.api.caller_limits import CallerAllowance
from civitas.api.interceptor import CallerInterceptor
from civitas.client import bearer
from ledger.accounts import Caller
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from tests.civitas.api.test_history import register, sign_in, wait_for
from tests.civitas.api.test_streams_end import Watched
from tests.civitas.probe_server import probe_channel, probe_roles
from tests.civitas.server_process import ServerProcess, add_account, civitas, running_server
from tests.civitas.status_details import detail, reason

STREAMS = 2
LIFETIME = 1.5


def refused_for_now(error: grpc.RpcError, expected_reason: str) -> float:
    """Asserts RESOURCE_EXHAUSTED with the reason; returns RetryInfo's delay in seconds."""
    assert isinstance(error, grpc.Call)
    assert (error.code(), reason(error)) == (grpc.StatusCode.RESOURCE_EXHAUSTED, expected_reason)
    retry = detail(error, error_details_pb2.RetryInfo)
    assert retry is not None, "no RetryInfo"
    delay: float = retry.retry_delay.ToTimedelta().total_seconds()
    assert delay > 0
    return delay


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server for the module (each test its own citizens); the SIGTERM test, last, stops it."""
    tmp_path = tmp_path_factory.mktemp("limits")
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    agency = bearer(
        add_account(data_dir, database, "portal", "agency:tax,registrar,relying-service")
    )
    server = ServerProcess(
        data_dir,
        database,
        "--max-streams-per-caller",
        str(STREAMS),
        "--max-stream-seconds",
        str(LIFETIME),
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield {
            "server": server,
            "agency": agency,
            "identity": identity_pb2_grpc.IdentityServiceStub(channel),
            "history": history_pb2_grpc.HistoryServiceStub(channel),
            "health": health_pb2_grpc.HealthStub(channel),
        }
    finally:
        channel.close()
        server.stop()


def watch(served: dict[str, Any], token: str, after: int = 0) -> Watched:
    request = hpb.WatchMyHistoryRequest(after_position=after)
    return Watched(served["history"].WatchMyHistory(request, metadata=bearer(token)))


def test_a_caller_at_its_stream_limit_is_refused_while_others_and_health_are_served(
    served: dict[str, Any],
) -> None:
    identity, agency = served["identity"], served["agency"]
    alice = register(identity, agency, "LIM-ALICE")
    bob = register(identity, agency, "LIM-BOB")
    alice_token = sign_in(identity, agency, alice)
    open_watches = [watch(served, alice_token) for _ in range(STREAMS)]
    wait_for(lambda: all(len(w.items) >= 2 for w in open_watches))  # both are running

    # Another token of the same citizen shares her allowance: signing in again buys nothing.
    for token in (alice_token, sign_in(identity, agency, alice)):
        refused = watch(served, token)
        refused._thread.join(10)
        assert refused.ended, "a stream over the limit was accepted"
        assert refused_for_now(refused.ended[0], "TOO_MANY_STREAMS") == 5.0

    # Everyone else is served meanwhile: another citizen's watch, an agency, the health check.
    bobs = watch(served, sign_in(identity, agency, bob))
    wait_for(lambda: bobs.items)
    assert identity.GetJwks(ipb.GetJwksRequest(), metadata=agency, timeout=5).json
    health = served["health"].Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert all(w.running() for w in open_watches)

    open_watches[0].stream.cancel()  # one of hers ends: she may open another
    wait_for(lambda: _accepted(served, alice_token))
    bobs.stream.cancel()
    for w in open_watches[1:]:
        w.stream.cancel()


def _accepted(served: dict[str, Any], token: str) -> bool:
    attempt = watch(served, token)
    time.sleep(0.3)
    accepted = attempt.running() or bool(attempt.items)
    attempt.stream.cancel()
    return accepted


def test_a_watch_ends_after_its_lifetime_and_resumes_from_its_last_position_losing_nothing(
    served: dict[str, Any],
) -> None:
    resumes_losing_nothing(served["identity"], served["agency"], served["history"], "LIM-RESUME")


def test_resuming_loses_nothing_on_postgres(tmp_path: Path, postgres_schema_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, postgres_schema_url, "init")
    role = "agency:tax,registrar,relying-service"
    agency = bearer(add_account(data_dir, postgres_schema_url, "portal", role))
    lifetime = ("--max-stream-seconds", str(LIFETIME))
    with running_server(data_dir, postgres_schema_url, *lifetime) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        resumes_losing_nothing(identity, agency, history, "LIM-RESUME-PG")
        channel.close()


def resumes_losing_nothing(identity: Any, agency: Any, history: Any, national_id: str) -> None:
    """A citizen signs in every 0.1 s while her client follows her history through two
    lifetimes, reconnecting after each: it sees every item once, in order."""
    citizen = register(identity, agency, national_id)
    token = sign_in(identity, agency, citizen)
    stop = threading.Event()

    def sign_in_meanwhile() -> None:  # every sign-in adds to her history while she watches
        while not stop.wait(0.1):
            sign_in(identity, agency, citizen)

    writer = threading.Thread(target=sign_in_meanwhile, daemon=True)
    writer.start()
    seen: list[int] = []
    ends = 0
    started = time.monotonic()
    try:
        while ends < 2:  # the client's loop: follow, and reconnect from the last position
            stream = history.WatchMyHistory(
                hpb.WatchMyHistoryRequest(after_position=seen[-1] if seen else 0),
                metadata=bearer(token),
            )
            seen += [item.position for item in stream]  # ends by itself, OK: no error raised
            ends += 1
    finally:
        stop.set()
        writer.join()
    assert time.monotonic() - started >= 2 * LIFETIME
    resumed = history.WatchMyHistory(
        hpb.WatchMyHistoryRequest(after_position=seen[-1]), metadata=bearer(token)
    )
    tail = Watched(resumed)
    # Listed again each time: the projection may still be recording the last sign-ins.
    wait_for(lambda: seen + [i.position for i in tail.items] == _whole_history(history, token))
    tail.stream.cancel()
    assert seen == sorted(set(seen))  # nothing twice


def _whole_history(history: Any, token: str) -> list[int]:
    positions: list[int] = []
    page_token = ""
    while True:
        page = history.ListMyHistory(
            hpb.ListMyHistoryRequest(page_size=500, page_token=page_token), metadata=bearer(token)
        )
        positions += [item.position for item in page.items]
        if not page.next_page_token:
            return positions
        page_token = page.next_page_token


def test_sigterm_ends_open_watches_cleanly_and_stops(served: dict[str, Any]) -> None:
    identity, agency, server = served["identity"], served["agency"], served["server"]
    citizen = register(identity, agency, "LIM-STOP")
    watches = [watch(served, sign_in(identity, agency, citizen)) for _ in range(STREAMS)]
    wait_for(lambda: all(w.items for w in watches))
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    for w in watches:  # ended cleanly, not cut when the grace ran out: the client resumes
        w._thread.join(5)
        assert not w.running()
        assert not w.ended, w.ended[0]
    assert "shutting down" in server.log_path.read_text()


# --- calls in flight: the interceptor in process, with a handler held open on demand ---------

CALLS = 2


@pytest.fixture
def held() -> Iterator[tuple[grpc.Channel, threading.Event]]:
    release = threading.Event()

    def hold(request: bytes, context: grpc.ServicerContext) -> bytes:
        release.wait(10)
        return request

    def authenticate(context: Any) -> Caller:
        return Caller(str(dict(context.invocation_metadata())["who"]), "admin")

    handlers = {
        "Hold": grpc.unary_unary_rpc_method_handler(hold),
        "Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request),
    }
    workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rpc")
    interceptor = CallerInterceptor(
        authenticate,
        probe_roles(handlers),
        workers,
        allowance=CallerAllowance(streams_per_caller=1, calls_per_caller=CALLS),
    )
    with probe_channel(handlers, interceptor, workers) as channel:
        try:
            yield channel, release
        finally:
            release.set()  # a call still held ends before the channel and the server close


def test_a_caller_at_its_in_flight_limit_is_refused_while_another_is_served(
    held: tuple[grpc.Channel, threading.Event],
) -> None:
    channel, release = held
    hold = channel.unary_unary("/test.Probe/Hold", lambda b: b, lambda b: b)
    echo = channel.unary_unary("/test.Probe/Echo", lambda b: b, lambda b: b)
    pending = [hold.future(b"x", metadata=(("who", "greedy"),)) for _ in range(CALLS)]
    time.sleep(0.3)  # both are running in workers now
    with pytest.raises(grpc.RpcError) as raised:
        echo(b"one more", metadata=(("who", "greedy"),), timeout=5)
    assert refused_for_now(raised.value, "TOO_MANY_CALLS") == 1.0
    assert echo(b"hello", metadata=(("who", "other"),), timeout=5) == b"hello"
    release.set()
    assert [call.result(timeout=5) for call in pending] == [b"x"] * CALLS
    assert echo(b"again", metadata=(("who", "greedy"),), timeout=5) == b"again"
