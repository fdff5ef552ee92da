"""docs/relying-services.md: its Node.js snippets are the code in docs/examples/node, byte for byte,
and that code runs against a real `civitas serve`: a relying service's whole flow, the refusal
decoder, the offline JWT check and the browser's WebAuthn conversions.

Needs Node.js 20+ and npm (`npm ci` runs in the example folder when `node_modules` is missing or
older than the lock file). Without them the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from civitas.client import CivitasClient, bearer
from civitas.soft_authenticator import SoftAuthenticator
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import identity_pb2_grpc
from tests.civitas.certificates import CertificateAuthority
from tests.civitas.server_process import add_account, civitas, running_server
from tests.conftest import REPO_ROOT
from tests.docs.snippets import GUIDE, included, regions

EXAMPLE = REPO_ROOT / "docs" / "examples" / "node"
CHECKS = Path(__file__).with_name("guide_checks.mjs")
NODE_MAJOR = 20
ORIGIN = "https://localhost"  # the server's default --rp-origin
PASSWORD = "a long and unusual passphrase"

pytestmark = pytest.mark.timeout(240)


def test_every_snippet_in_the_guide_is_the_code_that_runs() -> None:
    guide = GUIDE.read_text()
    blocks = included(guide)
    assert len(blocks) >= 10
    shown: set[tuple[str, str]] = set()
    for shown_file, name, block in blocks:
        source = regions(REPO_ROOT / shown_file)
        assert name in source, f"{shown_file} has no region {name!r}"
        assert block == source[name], (
            f"the guide's {shown_file}#{name} differs from the file: "
            "run python -m tests.docs.snippets"
        )
        shown.add((shown_file, name))
    for path in sorted(EXAMPLE.glob("*.js")):
        relative = str(path.relative_to(REPO_ROOT))
        for name in regions(path):
            assert (relative, name) in shown, f"{relative}#{name} is not shown in the guide"


# --- Node.js -----------------------------------------------------------------------------------


def _node_or_skip() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "Node.js and npm are needed to run the Node examples of the relying-service guide"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI machines have them, so this is a broken CI machine")
        pytest.skip(message)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    assert major >= NODE_MAJOR, f"the examples need Node.js {NODE_MAJOR}+, found {version.stdout}"
    return node, npm


@pytest.fixture(scope="module")
def node() -> str:
    """The `node` binary, with the example's packages installed from its lock file."""
    node_binary, npm = _node_or_skip()
    installed = EXAMPLE / "node_modules" / ".package-lock.json"
    lock = EXAMPLE / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=EXAMPLE,
            capture_output=True,
            timeout=300,
            check=True,
        )
    return node_binary


def run_node(node: str, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [node, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def checks(node: str, kind: str, given: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = json.loads(run_node(node, str(CHECKS), kind, stdin=json.dumps(given)))
    return output


# --- a server with an agency account ------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    target: str
    api_key: str
    checkpoint_key: str


# A deployment's own token issuer and audience, which the flow checks in the JWT.
ISSUER = "https://id.civitas.example"
AUDIENCE = "https://portal.example"
TOKEN_SETTINGS = ("--token-issuer", ISSUER, "--token-audience", AUDIENCE)
TOKEN_ENVIRONMENT = {"CIVITAS_TOKEN_ISSUER": ISSUER, "CIVITAS_TOKEN_AUDIENCE": AUDIENCE}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init")
    # IdentityService takes any agency account (roles `agency:*`); UnlockFactor and
    # EraseCitizen, which the guide does not use, need `admin`.
    api_key = add_account(data_dir, database_url, "citizen-portal", "agency:tax")
    keyring = json.loads(civitas(data_dir, database_url, "keys", "show").stdout)
    with running_server(data_dir, database_url, *TOKEN_SETTINGS) as (port, _):
        yield Server(f"127.0.0.1:{port}", api_key, keyring["checkpoint_keys"][0])


# --- the flow ---------------------------------------------------------------------------------


def test_the_node_flow_signs_in_at_aal2_and_gets_a_receipt_the_verifier_accepts(
    node: str, server: Server, tmp_path: Path
) -> None:
    receipt_file = tmp_path / "receipt.json"
    output = run_node(
        node,
        str(EXAMPLE / "flow.js"),
        str(receipt_file),
        env={
            "CIVITAS_TARGET": server.target,
            "CIVITAS_API_KEY": server.api_key,
            **TOKEN_ENVIRONMENT,
        },
    )
    check_flow(output, receipt_file, server.checkpoint_key)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_node_flow_under_mutual_tls_with_no_api_key(
    node: str, tmp_path: Path, database_url: str
) -> None:
    """The certificate alone names the service account (its common name), as the guide says."""
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init")
    add_account(data_dir, database_url, "citizen-portal", "agency:tax")
    keyring = json.loads(civitas(data_dir, database_url, "keys", "show").stdout)
    ca = CertificateAuthority()
    server_cert, server_key, ca_file = ca.write_server_files(tmp_path)
    issued = ca.issue("citizen-portal", server=False)
    (tmp_path / "portal.pem").write_bytes(issued.cert_pem)
    (tmp_path / "portal.key").write_bytes(issued.key_pem)
    tls = ("--tls-cert", str(server_cert), "--tls-key", str(server_key))
    receipt_file = tmp_path / "receipt.json"
    tls_server = (*tls, "--client-ca", str(ca_file), *TOKEN_SETTINGS)
    with running_server(data_dir, database_url, *tls_server) as (port, _):
        environment = {
            **TOKEN_ENVIRONMENT,
            "CIVITAS_TARGET": f"localhost:{port}",
            "CIVITAS_CA_CERT": str(ca_file),
            "CIVITAS_CLIENT_CERT": str(tmp_path / "portal.pem"),
            "CIVITAS_CLIENT_KEY": str(tmp_path / "portal.key"),
        }
        output = run_node(node, str(EXAMPLE / "flow.js"), str(receipt_file), env=environment)
    check_flow(output, receipt_file, keyring["checkpoint_keys"][0])


def check_flow(output: str, receipt_file: Path, checkpoint_key: str) -> None:
    """Every step of flow.js printed what the guide says it returns."""
    steps = {line["step"]: line for line in map(json.loads, output.splitlines())}
    assert list(steps) == [
        "register",
        "invalid",
        "enrol",
        "wrong_password",
        "sign_in",
        "jwt",
        "refresh",
        "history",
        "receipt",
    ]
    citizen_id = steps["register"]["citizen_id"]
    assert steps["register"]["eidas_level"] == "substantial"

    invalid = steps["invalid"]
    assert (invalid["code"], invalid["reason"], invalid["domain"]) == (
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "civitas",
    )
    assert invalid["localized"]["locale"] == "fr"
    assert invalid["localized"]["message"].startswith("Certaines informations")
    assert [v["field"] for v in invalid["violations"]] == [
        "personal_data.national_identifier",
        "personal_data.birth_date",
        "personal_data.email",
    ]

    assert steps["enrol"]["uri_scheme"] == "otpauth:"
    sign_in = steps["sign_in"]
    assert sign_in["available_methods"] == ["password", "totp"]
    assert (sign_in["acr"], sign_in["amr"], sign_in["eidas_level"]) == (
        "AAL2",
        ["pwd", "otp", "mfa"],
        "substantial",
    )
    assert sign_in["expires_at"].endswith("Z")

    claims = steps["jwt"]
    assert (claims["sub"], claims["acr"], claims["amr"]) == (
        citizen_id,
        "AAL2",
        ["pwd", "otp", "mfa"],
    )
    assert (claims["iss"], claims["aud"], claims["kid"]) == (ISSUER, AUDIENCE, "t1")
    assert claims["jti"]

    refresh = steps["refresh"]
    assert refresh["same_session"]
    assert refresh["new_jti"]
    assert refresh["acr"] == "AAL2"
    assert refresh["expires_at"] >= sign_in["expires_at"]
    assert refresh["old_token"] == {"code": "UNAUTHENTICATED", "reason": "INVALID_TOKEN"}

    refused = steps["wrong_password"]
    assert (refused["code"], refused["domain"]) == ("UNAUTHENTICATED", "civitas")
    assert refused["reason"] == "PASSWORD_MISMATCH"
    assert refused["localized"]["locale"] == "et"

    item = steps["history"]
    assert (item["kind"], item["type"], item["stream"]) == (
        "sign_in",
        "identity.Citizen.AuthenticationSucceeded",
        citizen_id,
    )
    assert item["summary"]["methods"] == ["password", "totp"]
    assert item["summary"]["client_address"] == "203.0.113.7"

    receipt = steps["receipt"]
    assert receipt["keys"] == sorted(json.loads(receipt_file.read_text()))
    verify = [sys.executable, "-m", "verifier", "receipt", str(receipt_file)]
    verified = subprocess.run(
        [*verify, "--checkpoint-key", checkpoint_key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The figures the guide's "eventual consistency" section quotes; `pytest -s` shows them.
    print(f"history {item['in_history_ms']} ms, receipt {receipt['in_checkpoint_ms']} ms")


def test_the_offline_jwt_check_refuses_what_it_must(node: str, server: Server) -> None:
    with grpc.insecure_channel(server.target) as channel:
        client = CivitasClient(channel, server.api_key)
        citizen_id = client.register_citizen({"national_identifier": "EE-JWT-1"})
        client.set_password(citizen_id, PASSWORD)
        token = client.authenticate_password(citizen_id, PASSWORD).token
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        jwks = json.loads(
            identity.GetJwks(ipb.GetJwksRequest(), metadata=bearer(server.api_key)).json
        )
    given = {"token": token, "jwks": jwks, "issuer": ISSUER, "audience": AUDIENCE}
    cases = checks(node, "jwt", given)
    assert cases.pop("valid") == {"accepted": True, "sub": citizen_id}
    assert set(cases) == {
        "tampered_signature",
        "tampered_claims",
        "alg_none",
        "unknown_kid",
        "other_audience",
        "other_issuer",
    }
    for name, outcome in cases.items():
        assert not outcome["accepted"], name


def test_the_time_helper_reads_a_timestamp_as_proto_loader_gives_it(node: str) -> None:
    given = {"values": [{"seconds": "1796284467", "nanos": 873569000}, None]}
    assert checks(node, "time", given)["iso"] == ["2026-12-03T07:54:27.873Z", None]


# --- WebAuthn: the browser snippet's manual conversions -------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_manual_webauthn_conversions_carry_a_real_passkey_ceremony(
    node: str, server: Server
) -> None:
    """The conversions for browsers without the JSON methods, run under Node on a software
    authenticator's real registration and assertion: what they produce, the server accepts."""
    authenticator = SoftAuthenticator(ORIGIN)
    with grpc.insecure_channel(server.target) as channel:
        client = CivitasClient(channel, server.api_key)
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        service = bearer(server.api_key)
        citizen_id = client.register_citizen({"national_identifier": "EE-PASSKEY-1"})
        begin = ipb.BeginPasskeyRegistrationRequest(citizen_id=citizen_id, label="laptop")
        options = identity.BeginPasskeyRegistration(begin, metadata=service)
        registration = authenticator.create(options.options_json)
        converted = checks(
            node,
            "webauthn",
            {"creation_options_json": options.options_json, "registration_json": registration},
        )
        assert converted["hasJsonSupport"] is False  # Node has no PublicKeyCredential
        _assert_binary_fields_decoded(json.loads(options.options_json), converted)
        assert json.loads(converted["credential_json"]) == json.loads(registration)
        complete = ipb.CompletePasskeyRegistrationRequest(
            citizen_id=citizen_id,
            registration_id=options.registration_id,
            credential_json=converted["credential_json"],
        )
        assert identity.CompletePasskeyRegistration(complete, metadata=service).method == "passkey"

        challenge = client.begin_authentication(citizen_id)
        assertion = authenticator.get(challenge.passkey_options_json)
        converted = checks(
            node,
            "webauthn",
            {"request_options_json": challenge.passkey_options_json, "assertion_json": assertion},
        )
        request = converted["request_options"]
        sent = json.loads(challenge.passkey_options_json)
        assert request["challenge"] == {"arrayBuffer": sent["challenge"]}
        assert [d["id"] for d in request["allowCredentials"]] == [
            {"arrayBuffer": d["id"]} for d in sent["allowCredentials"]
        ]
        assert request["rpId"] == sent["rpId"] == "localhost"
        assert json.loads(converted["assertion_json"]) == json.loads(assertion)
        signed_in = client.complete_authentication(
            challenge.attempt_id, passkey_assertion_json=converted["assertion_json"]
        )
        # User-verified, never leaves its device (BE flag clear), but unattested: AAL2, swk.
        assert (signed_in.acr, list(signed_in.amr)) == ("AAL2", ["swk", "user", "pin", "mfa"])
    for sample in converted["base64url"]:
        assert sample["encoded"] == sample["expected"]
        assert sample["roundTrip"]


def _assert_binary_fields_decoded(sent: dict[str, Any], converted: dict[str, Any]) -> None:
    creation = converted["creation_options"]
    assert creation["challenge"] == {"arrayBuffer": sent["challenge"]}
    assert creation["user"]["id"] == {"arrayBuffer": sent["user"]["id"]}
    assert creation["user"]["name"] == sent["user"]["name"]
    assert creation["rp"] == sent["rp"]
    assert creation["pubKeyCredParams"] == sent["pubKeyCredParams"]
