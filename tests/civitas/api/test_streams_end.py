"""Watches end when their caller's right to them ends, and an erased citizen's token is dead.

Each attack, over gRPC against a server subprocess: a watch kept open past the revocation of its
session or account, past its session's idle end, past its citizen's erasure; and an erased
citizen's token used to read the history and withdraw a case.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from civitas.client import bearer
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as pb
from tests.civitas.api.test_history import register, sign_in, wait_for
from tests.civitas.server_process import add_account, civitas, running_server, status_code
from tests.civitas.status_details import reason

# The idle recheck runs every second and an API key is cached for two: a watch must end well
# within this after its caller's right ended.
ENDS_WITHIN = 6.0


class Watched:
    """A server stream consumed in a thread: what arrived, and how it ended."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.items: list[Any] = []
        self.ended: list[grpc.RpcError] = []
        self._thread = threading.Thread(target=self._consume, daemon=True)
        self._thread.start()

    def _consume(self) -> None:
        try:
            for item in self.stream:
                self.items.append(item)
        except grpc.RpcError as error:
            self.ended.append(error)

    def ended_with(self, timeout: float = ENDS_WITHIN) -> tuple[grpc.StatusCode, str]:
        self._thread.join(timeout)
        if not self.ended:
            self.stream.cancel()
            raise AssertionError(f"the stream still runs after {timeout} s")
        error = self.ended[0]
        return error.code(), reason(error)

    def running(self) -> bool:
        return self._thread.is_alive()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    accounts = {
        "building": bearer(
            add_account(
                data_dir, database, "building-office", "agency:building,registrar,relying-service"
            )
        ),
        "admin": bearer(add_account(data_dir, database, "operator", "admin")),
    }
    # Idle watches recheck their callers every second here (30 s by default: the cost of
    # rechecking 10,000 idle watches, each of which checks every item before it sends it).
    with running_server(data_dir, database, "--stream-recheck-seconds", "1") as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield {
            **accounts,
            "data_dir": data_dir,
            "database": database,
            "identity": identity_pb2_grpc.IdentityServiceStub(channel),
            "history": history_pb2_grpc.HistoryServiceStub(channel),
            "cases": transaction_pb2_grpc.TransactionServiceStub(channel),
        }
        channel.close()


def _case(served: dict[str, Any], citizen: str, key: str) -> pb.Transaction:
    submit = pb.SubmitTransactionRequest(
        idempotency_key=key,
        service_code="permit.building",
        citizen_id=citizen,
        note="a shed",
        amount=pb.Amount(minor_units=15_000, currency="EUR"),
    )
    case: pb.Transaction = served["cases"].SubmitTransaction(submit, metadata=served["building"])
    return case


def test_a_revoked_sessions_watches_end_unauthenticated(served: dict[str, Any]) -> None:
    identity, history, cases = served["identity"], served["history"], served["cases"]
    citizen = register(identity, served["building"], "W-1")
    raw_token = sign_in(identity, served["building"], citizen)
    token = bearer(raw_token)
    case = _case(served, citizen, "watch-1")
    history_watch = Watched(history.WatchMyHistory(hpb.WatchMyHistoryRequest(), metadata=token))
    case_watch = Watched(
        cases.WatchTransaction(
            pb.WatchTransactionRequest(transaction_id=case.transaction_id), metadata=token
        )
    )
    wait_for(lambda: len(history_watch.items) >= 4 and case_watch.items)
    assert history_watch.running()  # idle, waiting for news
    assert case_watch.running()

    sessions = identity.ListSessions(
        ipb.ListSessionsRequest(
            citizen_id=citizen, proof=ipb.CitizenProof(citizen_token=raw_token)
        ),
        metadata=served["building"],
    ).sessions
    identity.RevokeSession(
        ipb.RevokeSessionRequest(session_id=sessions[0].session_id, reason="stolen phone"),
        metadata=served["building"],
    )
    assert history_watch.ended_with() == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")
    assert case_watch.ended_with() == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


def test_a_watch_ends_when_the_next_item_would_go_to_a_revoked_session(
    served: dict[str, Any],
) -> None:
    """Revocation and a new item at once: the item is not sent to the revoked session."""
    identity, history = served["identity"], served["history"]
    citizen = register(identity, served["building"], "W-2")
    raw_token = sign_in(identity, served["building"], citizen)
    token = bearer(raw_token)
    watch = Watched(history.WatchMyHistory(hpb.WatchMyHistoryRequest(), metadata=token))
    wait_for(lambda: len(watch.items) >= 4)
    seen = len(watch.items)
    sessions = identity.ListSessions(
        ipb.ListSessionsRequest(
            citizen_id=citizen, proof=ipb.CitizenProof(citizen_token=raw_token)
        ),
        metadata=served["building"],
    ).sessions
    identity.RevokeSession(
        ipb.RevokeSessionRequest(session_id=sessions[0].session_id, reason="logout"),
        metadata=served["building"],
    )
    # The revocation is itself an item of the citizen's history: it must not reach the stream.
    assert watch.ended_with() == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")
    assert all(item.type != "identity.Session.Revoked" for item in watch.items[seen:])


def test_an_agency_watch_ends_once_its_account_is_revoked(served: dict[str, Any]) -> None:
    identity, cases = served["identity"], served["cases"]
    citizen = register(identity, served["building"], "W-3")
    case = _case(served, citizen, "watch-3")
    watch = Watched(
        cases.WatchTransaction(
            pb.WatchTransactionRequest(transaction_id=case.transaction_id),
            metadata=served["building"],
        )
    )
    wait_for(lambda: watch.items)
    civitas(served["data_dir"], served["database"], "accounts", "revoke", "building-office")
    assert watch.ended_with() == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_API_KEY")


def test_an_erased_citizens_token_is_inactive_and_refused_everywhere(
    served: dict[str, Any],
) -> None:
    identity, history, cases = served["identity"], served["history"], served["cases"]
    citizen = register(identity, served["building"], "W-4")
    raw_token = sign_in(identity, served["building"], citizen)
    second = bearer(sign_in(identity, served["building"], citizen))  # a second session
    token = bearer(raw_token)
    case = _case(served, citizen, "watch-4")
    history_watch = Watched(history.WatchMyHistory(hpb.WatchMyHistoryRequest(), metadata=token))
    case_watch = Watched(
        cases.WatchTransaction(
            pb.WatchTransactionRequest(transaction_id=case.transaction_id), metadata=second
        )
    )
    wait_for(lambda: history_watch.items and case_watch.items)

    identity.EraseCitizen(
        ipb.EraseCitizenRequest(citizen_id=citizen, reason="GDPR art. 17"),
        metadata=served["admin"],
    )
    assert history_watch.ended_with()[0] == grpc.StatusCode.UNAUTHENTICATED
    assert case_watch.ended_with()[0] == grpc.StatusCode.UNAUTHENTICATED
    introspected = identity.IntrospectToken(
        ipb.IntrospectTokenRequest(token=raw_token), metadata=served["building"]
    )
    assert not introspected.active
    for call, request in (
        (history.ListMyHistory, hpb.ListMyHistoryRequest()),
        (
            cases.WithdrawTransaction,
            pb.TransitionRequest(transaction_id=case.transaction_id, reason="never mind"),
        ),
        (cases.GetTransaction, pb.GetTransactionRequest(transaction_id=case.transaction_id)),
    ):
        for credentials in (token, second):
            assert status_code(call, request, metadata=credentials) == (
                grpc.StatusCode.UNAUTHENTICATED
            )
    # Nothing more is recorded about the erased citizen: the agency's reason could not be sealed.
    with pytest.raises(grpc.RpcError) as refused:
        cases.StartReview(
            pb.TransitionRequest(transaction_id=case.transaction_id, reason="assigned"),
            metadata=served["building"],
        )
    assert (refused.value.code(), reason(refused.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CITIZEN_ERASED",
    )
    # Erasure revoked the sessions as events, so a refresh is refused as revoked.
    refreshed = status_code(
        identity.RefreshSession,
        ipb.RefreshSessionRequest(token=raw_token),
        metadata=served["building"],
    )
    assert refreshed == grpc.StatusCode.UNAUTHENTICATED


def test_a_watch_ends_when_its_session_goes_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVITAS_SESSION_IDLE_MINUTES", "0.05")  # three seconds
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    agency = bearer(
        add_account(
            data_dir, database, "building-office", "agency:building,registrar,relying-service"
        )
    )
    with running_server(data_dir, database, "--stream-recheck-seconds", "1") as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        citizen = register(identity, agency, "W-5")
        token = bearer(sign_in(identity, agency, citizen))
        watch = Watched(history.WatchMyHistory(hpb.WatchMyHistoryRequest(), metadata=token))
        wait_for(lambda: watch.items)
        assert watch.ended_with(timeout=3 + ENDS_WITHIN) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "INVALID_TOKEN",
        )
        channel.close()


pytestmark = pytest.mark.timeout(120)
