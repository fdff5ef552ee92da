"""An identity application on the real signed store, with a clock the tests move."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from civitas.node import Node
from identity.application import IdentityApplication, IdentitySettings
from identity.authority import CitizenProof, SessionsAsker
from identity.passkeys import RelyingParty
from identity.personal_data import NationalIdentifierIndex
from identity.session import Session
from identity.tokens import TokenSigner
from ledger.data_access import DataAccessLog
from ledger.secret_file import SecretFile
from tests.conftest import ready_node

ORIGIN = "https://portal.civitas.test"
RP = RelyingParty(id="portal.civitas.test", name="Civitas test", origins=(ORIGIN,))
ACTOR = "service:test-portal"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def node(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Node]:
    """A node on the tests' clock: its keys, its entries' `at` and the identity read one clock."""
    ledger_node = ready_node(tmp_path / "data", database_url, clock=clock)
    yield ledger_node
    ledger_node.close()


@pytest.fixture
def identity(node: Node, clock: Clock) -> IdentityApplication:
    keys = node.config.keys_dir
    return IdentityApplication(
        node.store,
        # The node's own key-encryption key: tests mix this application with `node.identity`.
        data_keys=node.data_keys,
        national_ids=NationalIdentifierIndex(SecretFile(keys / "lookup.key")),
        token_signer=TokenSigner("t1", node.keys.named_private_key("token-t1")),
        settings=IdentitySettings(relying_party=RP),
        clock=clock,
        data_access=DataAccessLog(node.store),
    )


def person(national_identifier: str = "19850412-1234", **overrides: str) -> dict[str, str]:
    return {
        "given_name": "Maarja",
        "family_name": "Tamm",
        "birth_date": "1985-04-12",
        "email": "maarja@example.test",
        "phone": "+372 5555 1234",
        "national_identifier": national_identifier,
        **overrides,
    }


def seed_of(provisioning_uri: str) -> str:
    return parse_qs(urlparse(provisioning_uri).query)["secret"][0]


def code_at(seed: str, moment: datetime) -> str:
    return pyotp.TOTP(seed).at(moment)


def new_session(start: datetime, end: datetime, idle_end: datetime, token_id: str) -> Session:
    """A session of an AAL2 sign-in (password and TOTP) at the "portal" relying service."""
    return Session(
        uuid.uuid4(),
        str(uuid.uuid4()),
        "AAL2",
        ["pwd", "otp"],
        "portal",
        start,
        end,
        actor=ACTOR,
        token_id=token_id,
        idle_expires_at=idle_end,
    )


REGISTRAR = "test-registrar"


def own_sessions(token: str) -> SessionsAsker:
    """A relying service that did not sign the citizen in, relaying the citizen's *token* to
    list or end their sessions."""
    return SessionsAsker(CitizenProof(citizen_token=token), relying_service="another-portal")


def owner(identity: IdentityApplication, citizen_id: str, acr: str = "AAL2") -> CitizenProof:
    """The citizen's own proof, for a test of the application alone: the token of a session at
    *acr* of the citizen's, as a sign-in would give them (issue 13: only the citizen changes
    their authenticators). test_authority.py takes the real paths over gRPC."""
    now = identity.now()
    session = Session(
        uuid.uuid4(),
        citizen_id,
        acr,
        ["pwd", "otp"],
        "test-portal",
        now,
        now + timedelta(hours=12),
        actor=ACTOR,
        token_id=str(uuid.uuid4()),
        idle_expires_at=now + timedelta(minutes=30),
    )
    identity.save(session)
    return CitizenProof(citizen_token=identity._signed_in(session, now).token)
