"""The key-encryption key and the national-identifier lookup key at rest (ledger/secret_file.py):
owner-only files, wrapped by the key passphrase when one is configured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger import secret_file
from ledger.keyring import KeyringError
from ledger.secret_file import SecretFile

PASSPHRASE = b"a passphrase for the key folder"


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secret_file, "SCRYPT_N", 2**10)  # the format, not the cost, is tested


def test_without_a_passphrase_the_file_holds_32_bytes_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    secret = SecretFile(path).read_or_create()
    assert len(secret) == 32
    assert path.read_bytes() == secret
    assert path.stat().st_mode & 0o777 == 0o600
    assert SecretFile(path).read_or_create() == secret


def test_with_a_passphrase_the_secret_is_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    secret = SecretFile(path, PASSPHRASE).read_or_create()
    stored = path.read_bytes()
    assert secret not in stored
    assert secret.hex().encode() not in stored
    assert json.loads(stored)["format"] == "civitas-secret/v1"
    assert path.stat().st_mode & 0o777 == 0o600
    assert SecretFile(path, PASSPHRASE).read_or_create() == secret
    with pytest.raises(KeyringError, match="wrong CIVITAS_KEY_PASSPHRASE"):
        SecretFile(path, b"another passphrase").read_or_create()
    with pytest.raises(KeyringError, match="set CIVITAS_KEY_PASSPHRASE"):
        SecretFile(path).read_or_create()


def test_a_wrapped_file_does_not_open_in_another_files_place(tmp_path: Path) -> None:
    SecretFile(tmp_path / "kek.key", PASSPHRASE).read_or_create()
    (tmp_path / "lookup.key").write_bytes((tmp_path / "kek.key").read_bytes())
    (tmp_path / "lookup.key").chmod(0o600)
    with pytest.raises(KeyringError, match="cannot unwrap"):
        SecretFile(tmp_path / "lookup.key", PASSPHRASE).read_or_create()


def test_a_key_made_before_the_passphrase_is_wrapped_in_place(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    secret = SecretFile(path).read_or_create()
    assert SecretFile(path, PASSPHRASE).read_or_create() == secret  # the same secret
    assert secret not in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    assert SecretFile(path, PASSPHRASE).read_or_create() == secret
    assert [p.name for p in tmp_path.iterdir()] == ["kek.key"]  # no temporary file left


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "kek.key"
    SecretFile(path).read_or_create()
    path.chmod(mode)
    with pytest.raises(KeyringError, match="mode 0600"):
        SecretFile(path).read_or_create()


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    path.write_bytes(b"too short")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="32 bytes or a wrapped secret"):
        SecretFile(path, PASSPHRASE).read_or_create()
    path.write_text(json.dumps({"format": "civitas-secret/v1", "kdf": "scrypt", "n": 2**30}))
    with pytest.raises(KeyringError, match="cannot read"):
        SecretFile(path, PASSPHRASE).read_or_create()
