"""Keys: created once with mode 0600, rotated with overlapping windows, followed by signers."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.keyring import ROTATION_GRACE, EntrySigner, KeyFolder, KeyringError, PublicKeyring

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_first_start_creates_private_keys_readable_only_by_the_owner(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    keyring = folder.initialise("civitas.test/log", T0)
    assert [key.kid for key in keyring.entry_keys] == ["k1"]
    assert keyring.checkpoint_keys[0].startswith("civitas.test/log+")
    private_files = sorted((tmp_path / "keys").glob("*.pem"))
    assert len(private_files) == 2
    for path in private_files:
        assert path.stat().st_mode & 0o777 == 0o600
    assert folder.initialise("other-origin", T0) == keyring  # a second start changes nothing


def test_public_keyring_holds_no_private_material(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    folder.initialise("civitas.test/log", T0)
    text = folder.keyring_path.read_text()
    assert "PRIVATE" not in text
    assert PublicKeyring.from_json(__import__("json").loads(text)) == folder.load_keyring()


def test_rotation_closes_the_old_window_after_a_grace_period(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    folder.initialise("civitas.test/log", T0)
    later = T0 + timedelta(days=30)
    keyring = folder.rotate_entry_key(later)
    old, new = keyring.entry_keys
    assert (old.kid, new.kid) == ("k1", "k2")
    assert old.not_after == later + ROTATION_GRACE
    assert new.not_before == later
    assert new.not_after is None
    assert keyring.current_entry_key(later + timedelta(seconds=1)).kid == "k2"
    assert keyring.current_entry_key(later - timedelta(seconds=1)).kid == "k1"
    assert not old.is_valid_at(later + ROTATION_GRACE)


def _rotate_both(folder: Path, now: datetime, start: threading.Barrier) -> None:
    start.wait()  # all at once, not one after another as the processes happen to start
    KeyFolder(folder).rotate_entry_key(now)
    KeyFolder(folder).rotate_checkpoint_key()


def test_rotations_by_several_processes_at_once_each_add_a_key(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    folder.initialise("civitas.test/log", T0)
    later = T0 + timedelta(days=1)
    # Spawned, not forked: forking a process that runs threads can inherit a held lock.
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(4, mp_context=context) as pool:
        start = manager.Barrier(4)
        list(pool.map(_rotate_both, [folder.path] * 4, [later] * 4, [start] * 4))
    keyring = folder.load_keyring()
    assert [key.kid for key in keyring.entry_keys] == ["k1", "k2", "k3", "k4", "k5"]
    assert len(set(keyring.checkpoint_keys)) == 5
    for key in keyring.entry_keys:
        assert folder.entry_private_key(key.kid).public_key() == key.public_key


def test_a_running_signer_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    folder.initialise("civitas.test/log", T0)
    now = [T0 + timedelta(hours=1)]
    signer = EntrySigner(folder, lambda: now[0])
    assert signer.current_key()[0] == "k1"
    KeyFolder(tmp_path / "keys").rotate_entry_key(now[0])  # "another process"
    os.utime(folder.keyring_path, ns=(1, 1))  # a different mtime even on coarse clocks
    signer.refresh()  # what the signer does by itself at most a second later
    now[0] += timedelta(seconds=1)
    assert signer.current_key()[0] == "k2"
    assert signer.public_key("k1") is not None


def test_passphrase_protected_keys(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys", passphrase=b"correct horse")
    folder.initialise("civitas.test/log", T0)
    assert b"ENCRYPTED" in (tmp_path / "keys" / "entry-k1.pem").read_bytes()
    assert folder.entry_private_key("k1")
    with pytest.raises(KeyringError):
        KeyFolder(tmp_path / "keys", passphrase=b"wrong").entry_private_key("k1")


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    folder.initialise("civitas.test/log", T0)
    (tmp_path / "keys" / "entry-k1.pem").chmod(0o644)
    with pytest.raises(KeyringError, match="0600"):
        folder.entry_private_key("k1")


def test_keys_made_without_a_passphrase_are_encrypted_once_one_is_set(tmp_path: Path) -> None:
    KeyFolder(tmp_path / "keys").initialise("civitas.test/log", T0)
    before = KeyFolder(tmp_path / "keys").entry_private_key("k1")
    folder = KeyFolder(tmp_path / "keys", passphrase=b"correct horse")
    after = folder.entry_private_key("k1")
    assert after.private_bytes_raw() == before.private_bytes_raw()
    path = tmp_path / "keys" / "entry-k1.pem"
    assert b"ENCRYPTED" in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyringError, match="set CIVITAS_KEY_PASSPHRASE"):
        KeyFolder(tmp_path / "keys").entry_private_key("k1")


def test_the_folder_check_refuses_any_private_file_others_can_read(tmp_path: Path) -> None:
    folder = KeyFolder(tmp_path / "keys")
    folder.initialise("civitas.test/log", T0)
    (tmp_path / "keys" / "data-key-encryption.key").write_bytes(os.urandom(32))
    (tmp_path / "keys" / "data-key-encryption.key").chmod(0o600)
    folder.check_private_files()  # keyring.json is public and may be 0644
    (tmp_path / "keys" / "data-key-encryption.key").chmod(0o640)
    with pytest.raises(KeyringError, match=r"data-key-encryption\.key is readable by group"):
        folder.check_private_files()
