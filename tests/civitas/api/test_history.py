"""HistoryService end to end: a citizen, with their own token, against a server subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from civitas.client import bearer
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from tests.civitas.server_process import add_account, civitas, running_server, status_code
from tests.civitas.status_details import detail, reason

PASSWORD = "a long and unusual passphrase"


def sign_in(
    identity: identity_pb2_grpc.IdentityServiceStub, md: list[tuple[str, str]], citizen: str
) -> str:
    challenge = identity.BeginAuthentication(
        ipb.BeginAuthenticationRequest(citizen_id=citizen), metadata=md
    )
    result = identity.CompleteAuthentication(
        ipb.CompleteAuthenticationRequest(attempt_id=challenge.attempt_id, password=PASSWORD),
        metadata=md,
    )
    return str(result.token)


def register(
    identity: identity_pb2_grpc.IdentityServiceStub, md: list[tuple[str, str]], national_id: str
) -> str:
    registered = identity.RegisterCitizen(
        ipb.RegisterCitizenRequest(
            personal_data=ipb.PersonalData(national_identifier=national_id), assurance=ipb.IAL2
        ),
        metadata=md,
    )
    # The citizen sets their first factor with the activation code their registrar gave them.
    activation = ipb.CitizenProof(activation_code=registered.activation_code)
    identity.SetPassword(
        ipb.SetPasswordRequest(
            citizen_id=registered.citizen_id, password=PASSWORD, proof=activation
        ),
        metadata=md,
    )
    return str(registered.citizen_id)


def wait_for(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_citizens_see_their_own_history_with_receipts_and_live_updates(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    agency = bearer(
        add_account(data_dir, database, "tax-portal", "agency:tax,registrar,relying-service")
    )
    checkpoint_key = json.loads(civitas(data_dir, database, "keys", "show").stdout)[
        "checkpoint_keys"
    ][-1]
    with running_server(data_dir, database) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        alice = register(identity, agency, "A-100")
        bob = register(identity, agency, "B-200")
        alice_token, bob_token = sign_in(identity, agency, alice), sign_in(identity, agency, bob)
        identity.GetCitizen(
            ipb.GetCitizenRequest(citizen_id=alice, purpose="tax audit"), metadata=agency
        )

        def alice_items() -> list[hpb.HistoryItem]:
            page = history.ListMyHistory(hpb.ListMyHistoryRequest(), metadata=bearer(alice_token))
            return list(page.items)

        items = wait_for(
            lambda: (found := alice_items()) and found[-1].kind == "data_access" and found
        )
        assert [i.kind for i in items] == [
            "identity",
            "activation",  # the code issued at registration...
            "activation",  # ...and used for the password
            "factor_added",
            "sign_in",
            "session",
            "data_access",
        ]
        assert json.loads(items[-1].summary_json)["purpose"] == "tax audit"
        page = history.ListMyHistory(
            hpb.ListMyHistoryRequest(page_size=2), metadata=bearer(alice_token)
        )
        rest = history.ListMyHistory(
            hpb.ListMyHistoryRequest(page_size=10, page_token=page.next_page_token),
            metadata=bearer(alice_token),
        )
        assert [i.position for i in (*page.items, *rest.items)] == [i.position for i in items]
        only_sign_ins = history.ListMyHistory(
            hpb.ListMyHistoryRequest(kinds=["sign_in"]), metadata=bearer(alice_token)
        )
        assert [i.kind for i in only_sign_ins.items] == ["sign_in"]

        # Times are Timestamps: `since` is inclusive, `until` exclusive, zero means no bound.
        sign_in_at = items[2].at
        assert sign_in_at.ToDatetime() > items[0].at.ToDatetime() > datetime(2020, 1, 1)
        since = history.ListMyHistory(
            hpb.ListMyHistoryRequest(since=sign_in_at), metadata=bearer(alice_token)
        ).items
        assert [i.position for i in since] == [
            i.position for i in items if i.at.ToNanoseconds() >= sign_in_at.ToNanoseconds()
        ]
        assert since[0].position == items[2].position
        until = history.ListMyHistory(
            hpb.ListMyHistoryRequest(until=sign_in_at, since=Timestamp()),
            metadata=bearer(alice_token),
        ).items
        assert [i.position for i in until] == [
            i.position for i in items if i.at.ToNanoseconds() < sign_in_at.ToNanoseconds()
        ]
        assert items[2].position not in [i.position for i in until]
        for bad, field in (
            (hpb.ListMyHistoryRequest(since=Timestamp(seconds=1, nanos=-1)), "since.nanos"),
            (hpb.ListMyHistoryRequest(until=Timestamp(nanos=10**9)), "until.nanos"),
            (hpb.ListMyHistoryRequest(until=Timestamp(seconds=10**12)), "until.seconds"),
            (hpb.ListMyHistoryRequest(since=Timestamp(seconds=-(10**12))), "since.seconds"),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                history.ListMyHistory(bad, metadata=bearer(alice_token))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            violations = detail(refused.value, error_details_pb2.BadRequest)
            assert violations is not None
            assert [v.field for v in violations.field_violations] == [field]

        # A receipt, verified offline by the independent verifier with the published key alone.
        sign_in_item = items[2]
        request = hpb.GetReceiptRequest(stream=sign_in_item.stream, version=sign_in_item.version)
        receipt = wait_for(lambda: _receipt_or_none(history, request, alice_token))
        receipt_file = tmp_path / "receipt.json"
        receipt_file.write_text(receipt)
        verified = subprocess.run(
            [
                sys.executable,
                "-m",
                "verifier",
                "receipt",
                str(receipt_file),
                "--checkpoint-key",
                checkpoint_key,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verified.returncode == 0, verified.stdout

        # Isolation: Bob cannot have Alice's receipt; an agency cannot read anyone's history.
        assert (
            status_code(history.GetReceipt, request, metadata=bearer(bob_token))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert all(
            i.stream != sign_in_item.stream
            for i in history.ListMyHistory(
                hpb.ListMyHistoryRequest(), metadata=bearer(bob_token)
            ).items
        )
        assert (
            status_code(history.ListMyHistory, hpb.ListMyHistoryRequest(), metadata=agency)
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert (
            status_code(history.ListMyHistory, hpb.ListMyHistoryRequest(), metadata=bearer("a.b.c"))
            == grpc.StatusCode.UNAUTHENTICATED
        )
        for bad in (
            hpb.ListMyHistoryRequest(kinds=["gossip"]),
            hpb.ListMyHistoryRequest(since=Timestamp(nanos=-5)),
            hpb.ListMyHistoryRequest(page_token="!!"),
            hpb.ListMyHistoryRequest(page_size=10_000),
        ):
            assert (
                status_code(history.ListMyHistory, bad, metadata=bearer(alice_token))
                == grpc.StatusCode.INVALID_ARGUMENT
            )

        # Errors speak the citizen's language.
        with pytest.raises(grpc.RpcError) as raised:
            history.ListMyHistory(
                hpb.ListMyHistoryRequest(kinds=["gossip"]),
                metadata=[*bearer(alice_token), ("accept-language", "fr-FR,fr;q=0.9")],
            )
        status = rpc_status.from_call(raised.value)  # type: ignore[arg-type]
        assert status is not None
        localized = error_details_pb2.LocalizedMessage()
        assert any(detail.Unpack(localized) for detail in status.details)
        assert (localized.locale, localized.message) == (
            "fr",
            "Certaines informations fournies ne sont pas valides : kinds.",
        )

        # Live: a new sign-in reaches Alice's open watch within a second.
        received: list[tuple[float, hpb.HistoryItem]] = []
        ended: list[grpc.StatusCode] = []
        watch = history.WatchMyHistory(
            hpb.WatchMyHistoryRequest(after_position=items[-1].position),
            metadata=bearer(alice_token),
        )

        def consume() -> None:
            try:
                for item in watch:
                    received.append((time.monotonic(), item))
            except grpc.RpcError as error:
                ended.append(error.code())

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        written_at = time.monotonic()
        sign_in(identity, agency, alice)
        wait_for(lambda: len(received) >= 2, timeout=5)  # the sign-in and its session
        assert received[0][1].kind == "sign_in"
        assert received[0][0] - written_at < 1.0
        watch.cancel()
        consumer.join(timeout=5)
        assert ended == [grpc.StatusCode.CANCELLED]  # the stream ran until the citizen left

        # A revoked session's token no longer opens the history.
        sessions = identity.ListSessions(
            ipb.ListSessionsRequest(
                citizen_id=alice, proof=ipb.CitizenProof(citizen_token=alice_token)
            ),
            metadata=agency,
        ).sessions
        for session in sessions:
            identity.RevokeSession(
                ipb.RevokeSessionRequest(session_id=session.session_id, reason="logout"),
                metadata=agency,
            )
        assert (
            status_code(
                history.ListMyHistory, hpb.ListMyHistoryRequest(), metadata=bearer(alice_token)
            )
            == grpc.StatusCode.UNAUTHENTICATED
        )
        channel.close()


def _receipt_or_none(
    history: history_pb2_grpc.HistoryServiceStub, request: hpb.GetReceiptRequest, token: str
) -> str | None:
    try:
        return str(history.GetReceipt(request, metadata=bearer(token)).json)
    except grpc.RpcError as error:
        not_yet = error.code() == grpc.StatusCode.UNAVAILABLE  # a checkpoint will cover it
        if not_yet and reason(error) == "NOT_YET_SEQUENCED":
            return None
        raise


pytestmark = pytest.mark.timeout(120)
