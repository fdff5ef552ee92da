"""No secret in a payload in clear: password hashes, recovery-code hashes and salts, and proofing
evidence are sealed with the citizen's data key, so the export bundle and AuditService's stream
carry none of them to an auditor, and erasure shreds them with the rest.

Ledgers written before that hold them in clear: they still load and still sign citizens in.
"""

from __future__ import annotations

import base64
import json
from typing import cast
from uuid import UUID

import pytest

from civitas.node import Node
from identity import passwords, recovery_codes
from identity.application import IdentityApplication
from identity.citizen import Citizen, Presented
from identity.refusals import AuthenticationFailedError
from ledger.envelope import unpack
from tests.identity.conftest import ACTOR, REGISTRAR, owner, person

PASSWORD = "correct horse battery staple"
EVIDENCE = "passport AB1234567 checked at the Tallinn counter"


def stored_payloads(node: Node, stream: str) -> list[dict[str, object]]:
    payloads = []
    for event in _events(node, stream):
        signed = unpack(event.originator_id, event.topic, event.originator_version, event.state)
        if signed.payload is not None:
            payloads.append(json.loads(signed.payload))
    return payloads


def stored_bytes(node: Node, stream: str) -> bytes:
    return b"".join(e.state for e in _events(node, stream))


def _events(node: Node, stream: str):  # type: ignore[no-untyped-def]
    return node.store.recorder.select_events(UUID(stream))


def sign_in(identity: IdentityApplication, citizen_id: str, **factors: str) -> str:
    challenge = identity.begin_authentication(citizen_id, "test-portal", ACTOR)
    return identity.complete_authentication(
        challenge.attempt_id, Presented(**factors), ("203.0.113.7", "pytest"), "test-portal", ACTOR
    ).acr


def test_no_hash_salt_or_evidence_is_stored_in_clear(
    node: Node, identity: IdentityApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    hash_code = recovery_codes.hash_recovery_code

    def recording(code: str, salt: bytes) -> str:
        made.append(hash_code(code, salt))
        made.append(base64.urlsafe_b64encode(salt).rstrip(b"=").decode())
        return made[-2]

    monkeypatch.setattr(recovery_codes, "hash_recovery_code", recording)
    password_hashes: list[str] = []
    hash_password = passwords.hash_password

    def hashing(password: str) -> str:
        password_hashes.append(hash_password(password))
        return password_hashes[-1]

    monkeypatch.setattr(passwords, "hash_password", hashing)
    citizen = identity.register_citizen(person(), "IAL2", EVIDENCE, REGISTRAR, ACTOR).citizen_id
    identity.set_password(citizen, PASSWORD, owner(identity, citizen), ACTOR)
    codes = identity.issue_recovery_codes(citizen, owner(identity, citizen), ACTOR)

    stored = stored_bytes(node, citizen)
    assert b"$argon2id$" not in stored
    assert EVIDENCE.encode() not in stored
    (phc,) = password_hashes
    raw_hash = passwords._parse_phc(phc).hash
    for secret in (phc.split("$")[-1], phc.split("$")[-2], *made):
        assert secret.encode() not in stored
    assert raw_hash not in stored
    assert raw_hash.hex().encode() not in stored
    for payload in stored_payloads(node, citizen):
        for name in ("password_hash", "salt", "evidence"):
            if payload.get(name):
                assert str(payload[name]).startswith("v1."), name
        for value in cast(list[str], payload.get("hashes") or []):
            assert str(value).startswith("v1.")

    # and the sealed forms still work
    assert sign_in(identity, citizen, password=PASSWORD) == "AAL1"
    assert sign_in(identity, citizen, recovery_code=codes[0]) == "AAL1"
    with pytest.raises(AuthenticationFailedError, match="recovery_code_mismatch"):
        sign_in(identity, citizen, recovery_code=codes[0])  # used once


def test_a_ledger_with_clear_hashes_still_signs_in_and_a_rehash_seals(
    node: Node, identity: IdentityApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events as written before sealing: a PHC string, a base64url salt and hex hashes in clear."""
    citizen_id = identity.register_citizen(person(), "IAL2", "", REGISTRAR, ACTOR).citizen_id
    citizen: Citizen = identity.repository.get(UUID(citizen_id))
    monkeypatch.setattr(passwords, "ITERATIONS", 1)  # an older deployment's parameters
    citizen.set_password(passwords.hash_password(PASSWORD), actor=ACTOR)
    monkeypatch.setattr(passwords, "ITERATIONS", 2)
    salt = b"0123456789abcdef"
    codes = recovery_codes.new_recovery_codes(3)
    hashes = [recovery_codes.hash_recovery_code(code, salt) for code in codes]
    citizen.issue_recovery_codes(
        base64.urlsafe_b64encode(salt).rstrip(b"=").decode(), hashes, actor=ACTOR
    )
    identity.save(citizen)
    assert b"$argon2id$" in stored_bytes(node, citizen_id)  # the old form, as it was stored

    assert sign_in(identity, citizen_id, recovery_code=codes[1]) == "AAL1"
    with pytest.raises(AuthenticationFailedError, match="recovery_code_mismatch"):
        sign_in(identity, citizen_id, recovery_code=codes[1])
    assert sign_in(identity, citizen_id, password=PASSWORD) == "AAL1"
    rehashed = stored_payloads(node, citizen_id)[-1]
    assert str(rehashed["password_hash"]).startswith("v1.")  # the rehash is written sealed
    assert sign_in(identity, citizen_id, password=PASSWORD) == "AAL1"
