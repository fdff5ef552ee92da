"""Structured logs: one JSON object a line, request ids from the gRPC edge, and no secret in
them even when passwords, TOTP codes, recovery codes, API keys and tokens cross the service."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pyotp
from hypothesis import given
from hypothesis import strategies as st

from civitas.api.call_log import CURRENT_REQUEST_ID, call_fields, request_id_from
from civitas.client import bearer
from civitas.logs import JsonFormatter, RequestIdFilter, TextFormatter, configure_logging
from protos.civitas.v1 import history_pb2, history_pb2_grpc, identity_pb2_grpc
from protos.civitas.v1 import identity_pb2 as pb
from tests.civitas.server_process import add_account, civitas, running_server
from tests.identity.conftest import seed_of

PASSWORD = "seven pale horses at the harbour"
WRONG_PASSWORD = "seven pale horses at the airport"
NATIONAL_ID = "38507120222"
FAMILY_NAME = "Saar"


def record(message: str = "hello", **extra: Any) -> logging.LogRecord:
    made = logging.getLogger("civitas.test").makeRecord(
        "civitas.test", logging.INFO, __file__, 1, message, (), None, extra=extra
    )
    RequestIdFilter().filter(made)
    return made


def test_a_json_line_has_the_fields_and_the_request_id_of_the_call() -> None:
    token = CURRENT_REQUEST_ID.set("req-1")
    try:
        line = json.loads(
            JsonFormatter().format(record("done", **call_fields("a/B", "x", "OK", 0.0123)))
        )
    finally:
        CURRENT_REQUEST_ID.reset(token)
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "caller",
        "code",
        "duration_ms",
    }
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "civitas.test", "done")
    assert (line["request_id"], line["method"], line["code"]) == ("req-1", "a/B", "OK")
    assert line["duration_ms"] == 12.3
    assert line["time"].endswith("Z")


def test_outside_a_call_there_is_no_request_id_and_unknown_extras_stay_out() -> None:
    line = json.loads(JsonFormatter().format(record(authorization="Bearer cvk.secret")))
    assert "request_id" not in line
    assert "cvk.secret" not in json.dumps(line)


def test_exceptions_are_kept_in_one_json_line() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        made = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    text = JsonFormatter().format(made)
    assert "\n" not in text
    assert "ValueError: broken" in json.loads(text)["exception"]


def test_text_lines_name_the_request_inside_a_call() -> None:
    token = CURRENT_REQUEST_ID.set("abc")
    try:
        text = TextFormatter().format(record("served"))
    finally:
        CURRENT_REQUEST_ID.reset(token)
    assert text.endswith("INFO civitas.test: served [request abc]")


def test_configure_logging_replaces_the_handlers() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("text", io.StringIO())
        configure_logging("json", stream)
        logging.getLogger("civitas.test").info("once")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["once"]


def test_a_callers_plain_request_id_is_kept() -> None:
    assert request_id_from([("x-request-id", "trace-42.a:b")]) == "trace-42.a:b"


@given(st.text(max_size=100) | st.binary(max_size=20))
def test_any_other_request_id_is_replaced_by_a_fresh_one(sent: str | bytes) -> None:
    chosen = request_id_from([("x-request-id", sent)])
    plain = isinstance(sent, str) and sent[:1].isalnum() and sent.isascii()
    plain = plain and len(sent) <= 64 and all(c.isalnum() or c in "._:-" for c in str(sent))
    if plain:
        assert chosen == sent
    else:
        assert len(chosen) == 32
        assert all(c in "0123456789abcdef" for c in chosen)


def test_a_json_server_log_has_request_ids_and_no_secrets(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    key = add_account(data_dir, database, "tax-portal", "agency:tax,registrar,relying-service")
    secrets: list[str] = [key, PASSWORD, WRONG_PASSWORD, NATIONAL_ID, FAMILY_NAME]
    with running_server(data_dir, database, "--log-format", "json") as (port, log_path):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        md = bearer(key)
        citizen, call = stub.RegisterCitizen.with_call(
            pb.RegisterCitizenRequest(
                personal_data=pb.PersonalData(
                    given_name="Liis",
                    family_name=FAMILY_NAME,
                    birth_date="1985-07-12",
                    national_identifier=NATIONAL_ID,
                ),
                assurance=pb.IAL2,
                evidence="ID card at counter",
            ),
            metadata=[*md, ("x-request-id", "portal-req-7")],
        )
        assert ("x-request-id", "portal-req-7") in call.initial_metadata()
        cid = citizen.citizen_id
        activation = pb.CitizenProof(activation_code=citizen.activation_code)
        stub.SetPassword(
            pb.SetPasswordRequest(citizen_id=cid, password=PASSWORD, proof=activation),
            metadata=md,
        )
        # Further factors with the citizen's own sessions: AAL1, then AAL2 (step-up).
        aal1 = complete(stub, md, cid, password=PASSWORD)
        assert isinstance(aal1, pb.AuthenticationResult)
        codes = list(
            stub.IssueRecoveryCodes(
                pb.IssueRecoveryCodesRequest(
                    citizen_id=cid, proof=pb.CitizenProof(citizen_token=aal1.token)
                ),
                metadata=md,
            ).codes
        )
        aal2 = complete(stub, md, cid, password=PASSWORD, recovery_code=codes[-1])
        assert isinstance(aal2, pb.AuthenticationResult)
        strong = pb.CitizenProof(citizen_token=aal2.token)
        enrollment = stub.BeginTotpEnrollment(
            pb.BeginTotpEnrollmentRequest(citizen_id=cid, label="phone", proof=strong), metadata=md
        )
        seed = seed_of(enrollment.provisioning_uri)
        app = pyotp.TOTP(seed)
        first_code = app.now()
        stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(
                citizen_id=cid,
                authenticator_id=enrollment.authenticator_id,
                code=first_code,
                proof=strong,
            ),
            metadata=md,
        )
        second_code = app.at(time.time() + 30)
        result = complete(stub, md, cid, password=PASSWORD, totp_code=second_code)
        assert isinstance(result, pb.AuthenticationResult)
        assert complete(stub, md, cid, password=WRONG_PASSWORD) == grpc.StatusCode.UNAUTHENTICATED
        assert isinstance(complete(stub, md, cid, recovery_code=codes[0]), pb.AuthenticationResult)
        stub.IntrospectToken(pb.IntrospectTokenRequest(token=result.token), metadata=md)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        history.ListMyHistory(history_pb2.ListMyHistoryRequest(), metadata=bearer(result.token))
        secrets += [seed, first_code, second_code, result.token, *codes]
        secrets += [citizen.activation_code, aal1.token, aal2.token]
        channel.close()

    logged = log_path.read_text()
    lines = [json.loads(line) for line in logged.splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
    access = [line for line in lines if line["logger"] == "civitas.access"]
    assert len(access) == 17  # one per RPC above
    assert all(len(line.get("request_id", "")) >= 8 for line in access)
    assert len({line["request_id"] for line in access}) == len(access)
    register = next(line for line in access if line["method"].endswith("/RegisterCitizen"))
    assert (register["request_id"], register["caller"], register["code"]) == (
        "portal-req-7",
        "tax-portal",
        "OK",
    )
    assert register["duration_ms"] > 0
    codes_seen = sorted(line["code"] for line in access)
    assert codes_seen == ["OK"] * 16 + ["UNAUTHENTICATED"]
    for secret in secrets:
        assert secret not in logged, secret


def complete(
    stub: identity_pb2_grpc.IdentityServiceStub,
    md: list[tuple[str, str]],
    citizen_id: str,
    *,
    password: str = "",
    totp_code: str = "",
    recovery_code: str = "",
) -> pb.AuthenticationResult | grpc.StatusCode:
    challenge = stub.BeginAuthentication(
        pb.BeginAuthenticationRequest(citizen_id=citizen_id), metadata=md
    )
    request = pb.CompleteAuthenticationRequest(
        attempt_id=challenge.attempt_id,
        password=password,
        totp_code=totp_code,
        recovery_code=recovery_code,
    )
    try:
        result: pb.AuthenticationResult = stub.CompleteAuthentication(request, metadata=md)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return result
