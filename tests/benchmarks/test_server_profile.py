"""benchmarks/server_profile.py attributes a server's CPU to the parts it names."""

from __future__ import annotations

import os
import threading

import pytest

from benchmarks import server_profile

HZ = os.sysconf("SC_CLK_TCK")
STACKS = [
    "thread (11): rpc_0;_worker (thread.py:83);IdentityServicer.CompleteAuthentication "
    "(identity.py:1);SignedMapper.to_stored_event (mapper.py:108) 3",
    "thread (11): rpc_0;_worker (thread.py:83);IdentityServicer.BeginAuthentication "
    "(identity.py:1);Citizen.authenticate (citizen.py:1) 1",
    "thread (12): rpc_1;_worker (thread.py:83);CallerInterceptor._finished (interceptor.py:1);"
    "Logger.info (logging/__init__.py:1) 2",
    "thread (12): rpc_1;_worker (thread.py:83);_unary_response_in_pool (_server.py:786) 2",
    "thread (13): Thread-5 (_serve);_serve (_server.py:1314) 4",
    "thread (14): projection-timeline;CitizenTimeline.write (timeline.py:1) 1",
]


def test_a_servers_cpu_is_split_by_thread_and_by_part() -> None:
    ticks = {
        11: ("python", HZ),  # one second each
        12: ("python", HZ),
        13: ("python", HZ),
        14: ("python", HZ),
        15: ("event_engine", HZ),  # a C thread of gRPC's, never in a Python stack
        16: ("python", HZ),  # a Python thread never sampled holding the GIL
    }
    rows = dict(server_profile.summarise(STACKS, ticks, sign_ins=1000))
    assert rows["whole server"] == pytest.approx(6.0)  # ms per sign-in
    assert rows["gRPC's own threads"] == pytest.approx(2.0)
    assert rows["log followers (sequencer, projections)"] == pytest.approx(1.0)
    assert rows["other Python threads (idle while sampled)"] == pytest.approx(1.0)
    assert rows["RPC workers"] == pytest.approx(2.0)
    # The workers' 2 ms in proportion to their samples: 3 + 1 + 2 + 2 of 8.
    assert rows["  entry signing"] == pytest.approx(0.75)
    assert rows["  other identity and ledger code"] == pytest.approx(0.25)
    assert rows["  interceptor: access log line and metrics"] == pytest.approx(0.5)
    assert rows["  gRPC request handling in the worker"] == pytest.approx(0.5)


def test_thread_cpu_reads_every_thread_of_a_process() -> None:
    done = threading.Event()
    worker = threading.Thread(target=done.wait)
    worker.start()
    try:
        before = server_profile.thread_cpu(os.getpid())
        assert threading.get_native_id() in before
        assert worker.native_id in before
        sum(range(3_000_000))  # some CPU for this thread
        used = server_profile.used_between(before, server_profile.thread_cpu(os.getpid()))
        assert used[threading.get_native_id()][1] >= 0
        assert all(ticks >= 0 for _, ticks in used.values())
    finally:
        done.set()
        worker.join()
