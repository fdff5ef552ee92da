"""The operator's commands: first start, key rotation, export."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import grpc

from civitas.client import bearer
from civitas.config import build_config
from civitas.node import Node
from identity.authority import CitizenProof
from ledger.checkpoint import NoteVerifier, open_checkpoint
from ledger.entry import SIGNATURE_CONTEXT, parse_entry, parse_timestamp
from ledger.keyring import PublicKeyring
from ledger.merkle import leaf_hash, root_from_leaf_hashes
from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from tests.civitas.server_process import add_account, civitas, running_server
from tests.identity.conftest import owner


def read_bundle(folder: Path) -> tuple[list[dict[str, object]], dict[int, str], PublicKeyring]:
    lines = [json.loads(line) for line in (folder / "entries.jsonl").read_text().splitlines()]
    notes = {int(p.stem): p.read_text() for p in (folder / "checkpoints").glob("*.txt")}
    keyring = PublicKeyring.from_json(json.loads((folder / "keyring.json").read_text()))
    return lines, notes, keyring


def check_bundle(folder: Path) -> int:
    """A writer-side reading of the bundle (the independent check is civitas-verify's)."""
    lines, notes, keyring = read_bundle(folder)
    assert [line["index"] for line in lines] == list(range(len(lines)))
    for line in lines:
        entry_bytes = str(line["entry"]).encode()
        entry = parse_entry(entry_bytes)
        key = keyring.entry_key(entry.kid)
        assert key is not None
        assert key.is_valid_at(parse_timestamp(entry.at))
        key.public_key.verify(
            base64.b64decode(str(line["signature"])), SIGNATURE_CONTEXT + entry_bytes
        )
        payload = base64.b64decode(str(line["payload"]))
        assert hashlib.sha256(payload).hexdigest() == entry.payload_sha256
    leaves = [leaf_hash(str(line["entry"]).encode()) for line in lines]
    verifiers = [NoteVerifier(key) for key in keyring.checkpoint_keys]
    for size, note in notes.items():
        checkpoint = open_checkpoint(note, verifiers)
        assert checkpoint.origin == keyring.origin
        assert checkpoint.size == size
        assert checkpoint.root_hash == root_from_leaf_hashes(leaves[:size])
    assert max(notes) == len(lines)
    return len(lines)


def test_first_start_creates_keys_and_accepts_accounts_added_meanwhile(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'civitas.sqlite'}"
    data_dir = tmp_path / "data"
    with running_server(data_dir, database) as (port, _):
        assert (data_dir / "keys" / "keyring.json").exists()
        key = add_account(data_dir, database, "auditor-1", "auditor")
        stub = audit_pb2_grpc.AuditServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        keyring = stub.GetKeyring(audit_pb2.GetKeyringRequest(), metadata=bearer(key))
        assert [k.kid for k in keyring.entry_keys] == ["k1"]
        assert json.loads(keyring.json)["origin"] == keyring.origin


def test_a_relative_data_folder_holds_the_database_and_the_keys_for_its_owner(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "civitas.cli", "--data-dir", "relative", "init"]
    subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=60, check=True)
    assert (tmp_path / "relative" / "civitas.sqlite").exists()
    assert (tmp_path / "relative" / "keys" / "keyring.json").exists()
    assert (tmp_path / "relative").stat().st_mode & 0o777 == 0o700  # the owner's only
    assert not Path("/relative").exists()


def test_rotation_then_export_gives_a_bundle_that_verifies(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init", "--origin", "civitas.test/export")
    add_account(data_dir, database_url, "before-rotation", "auditor")
    rotated = civitas(data_dir, database_url, "keys", "rotate").stdout
    assert "k2" in rotated
    civitas(data_dir, database_url, "keys", "rotate", "--checkpoint")
    add_account(data_dir, database_url, "after-rotation", "agency:tax")
    civitas(data_dir, database_url, "accounts", "role", "after-rotation", "agency:records")

    bundle = tmp_path / "bundle"
    result = civitas(data_dir, database_url, "export", "--out", str(bundle))
    assert json.loads(result.stdout.splitlines()[-1])["entries"] == 3
    assert check_bundle(bundle) == 3
    lines, _, keyring = read_bundle(bundle)
    kids = [parse_entry(str(line["entry"]).encode()).kid for line in lines]
    assert kids == ["k1", "k2", "k2"]
    assert len(keyring.checkpoint_keys) == 2
    keyring_text = (bundle / "keyring.json").read_text()
    for secret_file in (data_dir / "keys").glob("*.pem"):
        assert secret_file.read_text() not in keyring_text

    add_account(data_dir, database_url, "later", "auditor")
    civitas(data_dir, database_url, "export", "--out", str(bundle))  # a later export extends it
    assert check_bundle(bundle) == 4


def test_an_export_carries_no_password_or_recovery_code_hash_and_no_evidence(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init", "--origin", "civitas.test/secrets")
    evidence = "passport AB1234567 seen at the counter"
    config = build_config(data_dir=str(data_dir), database=database_url, environ={})
    with Node(config) as node:
        registered = node.identity.register_citizen(
            {"national_identifier": "SECRET-1", "given_name": "Mari"},
            "IAL2",
            evidence,
            "registrar",
            "cli:t",
        )
        citizen = registered.citizen_id
        code = CitizenProof(activation_code=registered.activation_code)
        node.identity.set_password(citizen, "a long and unusual passphrase", code, "cli:t")
        node.identity.issue_recovery_codes(citizen, owner(node.identity, citizen), "cli:t")

    bundle = tmp_path / "bundle"
    civitas(data_dir, database_url, "export", "--out", str(bundle))
    # Registered, ActivationCodeIssued, Claimed, ActivationCodeUsed, PasswordSet, the session
    # that proves the citizen, RecoveryCodesIssued.
    assert check_bundle(bundle) == 7
    lines, _, _ = read_bundle(bundle)
    payloads = [base64.b64decode(str(line["payload"])) for line in lines]
    for payload in payloads:
        assert registered.activation_code.encode() not in payload  # its hash only
        assert b"$argon2id$" not in payload
        assert b"argon2" not in payload.lower()
        assert evidence.encode() not in payload
        fields = json.loads(payload)
        for name in ("password_hash", "salt", "evidence"):
            assert str(fields.get(name) or "v1.").startswith("v1."), name  # sealed
        assert all(str(value).startswith("v1.") for value in fields.get("hashes") or [])
