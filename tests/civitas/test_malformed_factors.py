"""A malformed or empty factor is a failed attempt: it is recorded, and it counts toward lockout
(issue 14: attempts with `passkey_assertion_json="{}"` never did).

Over gRPC, in process, on SQLite and PostgreSQL, with a lockout that locks at the third
consecutive failure and never throttles before it, so no clock has to move. Each factor is
presented in a malformed shape LOCK_AFTER times; then the right factor is refused as
FACTOR_LOCKED, and each of those attempts left one `AuthenticationFailed` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from civitas.client import CivitasClient, activation, bearer, citizen_token
from civitas.config import build_config
from civitas.node import Node
from civitas.server import build_server
from civitas.soft_authenticator import SoftAuthenticator
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import identity_pb2_grpc
from tests.civitas.private_postgres import fresh_schema
from tests.civitas.status_details import reason
from tests.conftest import postgres_or_skip

PASSWORD = "a long and unusual passphrase"
ORIGIN = "https://localhost"  # the configuration's default relying party
LOCK_AFTER = 3
FAILED = "identity.Citizen.AuthenticationFailed"


@dataclass
class Served:
    node: Node
    agency: CivitasClient
    identity: Any  # the generated stub, untyped
    credentials: list[tuple[str, str]]

    def last_event(self) -> int:
        return self.node.store.recorder.max_notification_id() or 0

    def written_since(self, position: int) -> list[str]:
        notifications = self.node.store.recorder.select_notifications(
            start=position, limit=1000, inclusive_of_start=False
        )
        return [n.topic for n in notifications]


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'civitas.sqlite'}"
    else:
        with fresh_schema(postgres_or_skip()) as url:
            yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server per database for the module: each test signs in a citizen of its own."""
    folder = tmp_path_factory.mktemp("malformed")
    with database(request.param, folder) as url:
        config = build_config(
            data_dir=str(folder / "data"),
            database=url,
            environ={
                "CIVITAS_LOCKOUT_THROTTLE_AFTER": str(LOCK_AFTER),
                "CIVITAS_LOCKOUT_LOCK_AFTER": str(LOCK_AFTER),
            },
        )
        node = Node(config)
        node.initialise("civitas.test/malformed")
        node.upgrade_schema()
        key = node.accounts.create("portal", "agency:tax,relying-service,registrar", actor="t")
        server, _ = build_server(node)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield Served(
                node,
                CivitasClient(channel, key.api_key),
                identity_pb2_grpc.IdentityServiceStub(channel),
                bearer(key.api_key),
            )
        finally:
            channel.close()
            server.stop(grace=None)
            node.close()


class Citizen:
    """A citizen with a password and the one further factor a test presents wrongly."""

    def __init__(self, served: Served, national_id: str, method: str) -> None:
        agency = served.agency
        registered = agency.register({"national_identifier": national_id})
        self.citizen_id = citizen = registered.citizen_id
        agency.set_password(citizen, PASSWORD, proof=activation(registered.activation_code))
        owner = citizen_token(agency.authenticate_password(citizen, PASSWORD).token)
        self.passkey = SoftAuthenticator(ORIGIN, "localhost")
        if method == "passkey":
            agency.enrol_passkey(citizen, self.passkey, proof=owner)
        elif method == "totp":
            self.totp = agency.enrol_totp(citizen, proof=owner)
        elif method == "recovery_codes":
            self.recovery_codes = agency.issue_recovery_codes(citizen, proof=owner)


def refusal(served: Served, citizen_id: str, **factors: str) -> grpc.Call:
    attempt = served.agency.begin_authentication(citizen_id).attempt_id
    request = ipb.CompleteAuthenticationRequest(attempt_id=attempt)
    for field, value in factors.items():
        setattr(request, field, value)
    with pytest.raises(grpc.RpcError) as raised:
        served.identity.CompleteAuthentication(request, metadata=served.credentials, timeout=30)
    error = raised.value
    assert isinstance(error, grpc.Call)
    return error


MALFORMED: list[tuple[str, str]] = [
    ("passkey_assertion_json", "{}"),
    ("passkey_assertion_json", "not json at all"),
    ("passkey_assertion_json", "   "),
    ("passkey_assertion_json", '{"id": "", "response": {}}'),
    ("totp_code", "1"),  # too short
    ("totp_code", "123456789012"),  # too long, within the edge's 16 bytes
    ("totp_code", "abcdef"),
    ("totp_code", "      "),
    ("recovery_code", "?"),
    ("password", "x" * 200),  # longer than the password policy's 128 characters
]
METHOD_OF = {
    "passkey_assertion_json": "passkey",
    "totp_code": "totp",
    "recovery_code": "recovery_codes",
    "password": "password",
}


def right_factor(served: Served, citizen: Citizen, field: str) -> str:
    if field == "passkey_assertion_json":
        options = served.agency.begin_authentication(citizen.citizen_id).passkey_options_json
        return citizen.passkey.get(options)
    if field == "totp_code":
        return citizen.totp.next_code()
    if field == "recovery_code":
        return citizen.recovery_codes[0]
    return PASSWORD


@pytest.mark.parametrize(("field", "value"), MALFORMED, ids=lambda v: repr(v)[:24])
def test_a_malformed_factor_is_recorded_and_counts_toward_lockout(
    served: Served, field: str, value: str
) -> None:
    citizen = Citizen(served, f"MF-{field}-{value[:8]}", METHOD_OF[field])
    before = served.last_event()
    for _ in range(LOCK_AFTER):
        error = refusal(served, citizen.citizen_id, **{field: value})
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()
        assert reason(error) != "FACTOR_LOCKED"
    assert served.written_since(before).count(FAILED) == LOCK_AFTER  # every attempt an event

    right = right_factor(served, citizen, field)
    locked = refusal(served, citizen.citizen_id, **{field: right})
    assert reason(locked) == "FACTOR_LOCKED", locked.details()


def test_a_passkey_that_is_not_the_citizens_counts_toward_lockout(served: Served) -> None:
    citizen, other = (Citizen(served, f"MF-{name}", "passkey") for name in ("ME", "OTHER"))
    others_credential = next(iter(other.passkey.credentials))
    for _ in range(LOCK_AFTER):
        # A well-formed assertion, signed by a passkey that is another citizen's.
        options = served.agency.begin_authentication(citizen.citizen_id).passkey_options_json
        stranger = other.passkey.get(options, others_credential)
        error = refusal(served, citizen.citizen_id, passkey_assertion_json=stranger)
        assert reason(error) == "PASSKEY_UNKNOWN_CREDENTIAL"
    options = served.agency.begin_authentication(citizen.citizen_id).passkey_options_json
    locked = refusal(
        served, citizen.citizen_id, passkey_assertion_json=citizen.passkey.get(options)
    )
    assert reason(locked) == "FACTOR_LOCKED"


def test_a_malformed_passkey_does_not_lock_the_other_factors(served: Served) -> None:
    citizen = Citizen(served, "MF-OTHERS", "passkey")
    for _ in range(LOCK_AFTER):
        refusal(served, citizen.citizen_id, passkey_assertion_json="{}")
    assert served.agency.authenticate_password(citizen.citizen_id, PASSWORD).token
