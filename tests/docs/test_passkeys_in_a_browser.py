"""The guide's browser WebAuthn snippet (docs/examples/node/webauthn-browser.js) in a real
browser: Debian's Chromium, driven by Playwright, with a CDP virtual authenticator standing in
for the citizen's device. A passkey is registered and used to sign in, once through the
browser's own JSON methods and once through the manual conversions, against a real server, and
then again without a citizen id (username-less, a discoverable credential).

Needs `chromium` (Debian's package) and the `playwright` Python package; Playwright's own
browser download is never used. Without them the test skips, except under CI=true.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest

from civitas.client import CivitasClient, bearer
from civitas.soft_authenticator import new_attestation_model
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import identity_pb2_grpc
from tests.browser import add_virtual_authenticator, chromium_or_skip
from tests.civitas.server_process import add_account, civitas, running_server
from tests.conftest import REPO_ROOT

SNIPPET = REPO_ROOT / "docs" / "examples" / "node" / "webauthn-browser.js"
PAGE = b"<!doctype html><title>portal</title><p>sign in"
# Browsers without the WebAuthn L3 JSON methods, as the page sees them.
REMOVE_JSON_METHODS = """() => {
  delete PublicKeyCredential.parseCreationOptionsFromJSON;
  delete PublicKeyCredential.parseRequestOptionsFromJSON;
}"""
CALL = """async ([name, argument]) => {
  const snippet = await import('/webauthn-browser.js');
  return name === 'hasJsonSupport' ? snippet.hasJsonSupport() : snippet[name](argument);
}"""

pytestmark = pytest.mark.timeout(180)


class _Portal(BaseHTTPRequestHandler):
    """A portal page and the guide's snippet, at one origin (http://localhost is a secure
    context, so WebAuthn runs there without TLS)."""

    def do_GET(self) -> None:
        if self.path == "/webauthn-browser.js":
            body, kind = SNIPPET.read_bytes(), "text/javascript"
        else:
            body, kind = PAGE, "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output is the assertions, not an access log


@pytest.fixture
def portal_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("json_methods", ["native", "manual"])
def test_a_passkey_made_in_chromium_registers_and_signs_in_at_aal2(
    tmp_path: Path, portal_origin: str, json_methods: str
) -> None:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    civitas(data_dir, database, "init")
    api_key = add_account(
        data_dir, database, "citizen-portal", "agency:tax,registrar,relying-service"
    )
    roots = tmp_path / "attestation-roots.json"  # some other model: AAL3 is on, but not for it
    roots.write_text(json.dumps({"entries": [new_attestation_model().trust_list_entry()]}))
    rp = ("--rp-id", "localhost", "--rp-origin", portal_origin)
    aal3 = ("--allow-aal3", "--attestation-roots", str(roots))
    with (
        running_server(data_dir, database, *rp, *aal3) as (port, _),
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium)
        page = browser.new_page()
        page.goto(portal_origin)
        add_virtual_authenticator(page)
        if json_methods == "manual":
            page.evaluate(REMOVE_JSON_METHODS)
        assert page.evaluate(CALL, ["hasJsonSupport", None]) is (json_methods == "native")

        client = CivitasClient(channel, api_key)
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        registered_citizen = client.register({"national_identifier": f"EE-{json_methods}"})
        citizen_id = registered_citizen.citizen_id
        # The passkey is the citizen's first factor: their activation code is the proof.
        proof = ipb.CitizenProof(activation_code=registered_citizen.activation_code)
        begin = ipb.BeginPasskeyRegistrationRequest(
            citizen_id=citizen_id, label="laptop", proof=proof
        )
        options = identity.BeginPasskeyRegistration(begin, metadata=bearer(api_key))
        credential_json = page.evaluate(CALL, ["createPasskey", options.options_json])
        _assert_base64url_fields(json.loads(credential_json)["response"])
        complete = ipb.CompletePasskeyRegistrationRequest(
            citizen_id=citizen_id,
            registration_id=options.registration_id,
            credential_json=credential_json,
            proof=proof,
        )
        registered = identity.CompletePasskeyRegistration(complete, metadata=bearer(api_key))
        assert registered.method == "passkey"

        challenge = client.begin_authentication(citizen_id)
        assertion_json = page.evaluate(CALL, ["usePasskey", challenge.passkey_options_json])
        signed_in = client.complete_authentication(
            challenge.attempt_id, passkey_assertion_json=assertion_json
        )
        assert (signed_in.acr, list(signed_in.amr), signed_in.eidas_level) == (
            "AAL2",
            ["swk", "user", "pin", "mfa"],
            "substantial",
        )

        # Username-less: no citizen id, no allowCredentials; the browser offers the resident key.
        challenge = client.begin_authentication("")
        assert json.loads(challenge.passkey_options_json)["allowCredentials"] == []
        assertion_json = page.evaluate(CALL, ["usePasskey", challenge.passkey_options_json])
        signed_in = client.complete_authentication(
            challenge.attempt_id, passkey_assertion_json=assertion_json
        )
        assert client.introspect(signed_in.token).citizen_id == citizen_id
        browser.close()


def _assert_base64url_fields(response: dict[str, Any]) -> None:
    """What the guide says travels as unpadded base64url does, whichever branch made it."""
    for name in ("clientDataJSON", "attestationObject"):
        value = response[name]
        assert isinstance(value, str)
        assert value
        assert not set(value) - set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
