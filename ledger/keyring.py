"""Signing keys: the public keyring, the private key files, and rotation (docs/ledger-format.md
section 5).

Layout of the key folder (inside the data folder, or wherever configuration points):

    keyring.json            the public keyring, in the export bundle's format
    entry-<kid>.pem         one Ed25519 private key per entry-signing key (mode 0600)
    checkpoint-<hash>.pem   one per checkpoint-signing key, <hash> its note key hash

Private keys never enter the event store. With a passphrase they are PEM-encrypted as well.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ledger.checkpoint import NoteSigner, parse_verifier_key, verifier_key_string
from ledger.entry import format_timestamp, parse_timestamp
from ledger.leader import held_file_lock

KEYRING_FILE = "keyring.json"
PRIVATE_SUFFIXES = (".pem", ".key")  # signing keys; the key-encryption and lookup keys
# After a rotation a running server may sign with the old key until it next looks at the keyring
# (at most RELOAD_INTERVAL later); the old key stays valid that much longer, with a margin.
ROTATION_GRACE = timedelta(seconds=10)
RELOAD_INTERVAL = 1.0

Clock = Callable[[], datetime]


class KeyringError(Exception):
    """The key folder is missing, inconsistent or unreadable."""


@dataclass(frozen=True)
class EntryKey:
    kid: str
    public_key: Ed25519PublicKey
    not_before: datetime
    not_after: datetime | None

    def is_valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment and (self.not_after is None or moment < self.not_after)

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "public_key": base64.b64encode(raw_public_bytes(self.public_key)).decode(),
            "not_before": format_timestamp(self.not_before),
            "not_after": None if self.not_after is None else format_timestamp(self.not_after),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EntryKey:
        not_after = obj.get("not_after")
        return cls(
            kid=obj["kid"],
            public_key=Ed25519PublicKey.from_public_bytes(base64.b64decode(obj["public_key"])),
            not_before=parse_timestamp(obj["not_before"]),
            not_after=None if not_after is None else parse_timestamp(not_after),
        )


@dataclass(frozen=True)
class PublicKeyring:
    """What an auditor needs to verify the ledger, and nothing secret."""

    origin: str
    entry_keys: tuple[EntryKey, ...]
    checkpoint_keys: tuple[str, ...]  # note verifier keys, the last one current

    def entry_key(self, kid: str) -> EntryKey | None:
        return next((key for key in self.entry_keys if key.kid == kid), None)

    def current_entry_key(self, moment: datetime) -> EntryKey:
        valid = [key for key in self.entry_keys if key.is_valid_at(moment)]
        if not valid:
            raise KeyringError(f"no entry-signing key is valid at {format_timestamp(moment)}")
        return max(valid, key=lambda key: key.not_before)

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_keys": [key.to_json() for key in self.entry_keys],
            "checkpoint_keys": list(self.checkpoint_keys),
            "origin": self.origin,
        }

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PublicKeyring:
        return cls(
            origin=obj["origin"],
            entry_keys=tuple(EntryKey.from_json(key) for key in obj["entry_keys"]),
            checkpoint_keys=tuple(obj["checkpoint_keys"]),
        )


def check_owner_only(path: Path) -> None:
    """Refuse a key file that group or others may read or write."""
    if path.stat().st_mode & 0o077:
        raise KeyringError(
            f"{path} is readable by group or others; it must be mode 0600 (chmod 600 {path})"
        )


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_entry_signature(key: EntryKey, signature: bytes, signing_input: bytes) -> bool:
    try:
        key.public_key.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


class KeyFolder:
    """The key folder on disk: creates it on first start, loads and rotates keys."""

    def __init__(self, path: Path, passphrase: bytes | None = None) -> None:
        self.path = path
        self._passphrase = passphrase

    @property
    def keyring_path(self) -> Path:
        return self.path / KEYRING_FILE

    def exists(self) -> bool:
        return self.keyring_path.exists()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the folder against other processes making or changing keys at the same time
        (replicas starting together on one shared folder)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with held_file_lock(self.path / ".lock"):
            yield

    def initialise(self, origin: str, now: datetime) -> PublicKeyring:
        """Create the first entry key and checkpoint key; a no-op when the keyring exists.
        Call it under `exclusive()` where other processes may share the folder."""
        if self.exists():
            return self.load_keyring()
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        entry_key = self._new_entry_key("k1", now)
        checkpoint_key = self._new_checkpoint_key(origin)
        keyring = PublicKeyring(origin, (entry_key,), (checkpoint_key,))
        self._write_keyring(keyring)
        return keyring

    def check_private_files(self) -> None:
        """Refuse to go on when any private key file of the folder is readable by group or
        others: a server checks this before it starts, not on the first request that signs."""
        if not self.path.is_dir():
            return
        for path in sorted(self.path.iterdir()):
            if path.suffix in PRIVATE_SUFFIXES and path.is_file():
                check_owner_only(path)

    def encrypt_existing_keys(self) -> None:
        """With a passphrase, encrypt every private key written before one was configured (each
        is read, which encrypts it in place). Call it under `exclusive()`."""
        if self._passphrase and self.path.is_dir():
            for path in sorted(self.path.glob("*.pem")):
                self._read_private_key(path)

    def load_keyring(self) -> PublicKeyring:
        try:
            return PublicKeyring.from_json(json.loads(self.keyring_path.read_text()))
        except FileNotFoundError:
            raise KeyringError(f"no keyring at {self.keyring_path}: run `civitas init`") from None
        except (KeyError, ValueError) as error:
            raise KeyringError(f"{self.keyring_path} is not a valid keyring: {error}") from None

    def rotate_entry_key(self, now: datetime) -> PublicKeyring:
        with self.exclusive():  # two rotations at once would both make the same next kid
            keyring = self.load_keyring()
            current = keyring.current_entry_key(now)
            closed = replace(current, not_after=now + ROTATION_GRACE)
            new_kid = f"k{1 + max(_kid_number(key.kid) for key in keyring.entry_keys)}"
            new_key = self._new_entry_key(new_kid, now)
            keys = tuple(closed if key.kid == current.kid else key for key in keyring.entry_keys)
            rotated = replace(keyring, entry_keys=(*keys, new_key))
            self._write_keyring(rotated)
            return rotated

    def rotate_checkpoint_key(self) -> PublicKeyring:
        with self.exclusive():  # and one would lose the other's key from the keyring
            keyring = self.load_keyring()
            new_key = self._new_checkpoint_key(keyring.origin)
            rotated = replace(keyring, checkpoint_keys=(*keyring.checkpoint_keys, new_key))
            self._write_keyring(rotated)
            return rotated

    def named_private_key(self, name: str) -> Ed25519PrivateKey:
        """A key of another purpose kept in this folder (e.g. token signing), made on first use."""
        path = self.path / f"{name}.pem"
        if not path.exists():
            self._write_private_key(path, Ed25519PrivateKey.generate())
        return self._read_private_key(path)

    def entry_private_key(self, kid: str) -> Ed25519PrivateKey:
        return self._read_private_key(self.path / f"entry-{kid}.pem")

    def checkpoint_signer(self, keyring: PublicKeyring) -> NoteSigner:
        name, key_hash, _ = parse_verifier_key(keyring.checkpoint_keys[-1])
        private_key = self._read_private_key(self.path / f"checkpoint-{key_hash.hex()}.pem")
        return NoteSigner(name, private_key)

    def _new_entry_key(self, kid: str, now: datetime) -> EntryKey:
        private_key = Ed25519PrivateKey.generate()
        self._write_private_key(self.path / f"entry-{kid}.pem", private_key)
        return EntryKey(kid, private_key.public_key(), now, None)

    def _new_checkpoint_key(self, origin: str) -> str:
        private_key = Ed25519PrivateKey.generate()
        verifier_key = verifier_key_string(origin, private_key.public_key())
        _, key_hash, _ = parse_verifier_key(verifier_key)
        self._write_private_key(self.path / f"checkpoint-{key_hash.hex()}.pem", private_key)
        return verifier_key

    def _write_private_key(self, path: Path, private_key: Ed25519PrivateKey) -> None:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        # O_EXCL: a key file is written once; 0600 from the first byte, never widened later.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)

    def _read_private_key(self, path: Path) -> Ed25519PrivateKey:
        check_owner_only(path)
        pem = path.read_bytes()
        try:
            key = serialization.load_pem_private_key(pem, password=self._passphrase)
        except TypeError:
            key = self._encrypt_in_place(path, pem)
        except ValueError as error:
            raise KeyringError(f"cannot read {path}: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError(f"{path} is not an Ed25519 key")
        return key

    def _encrypt_in_place(self, path: Path, pem: bytes) -> PrivateKeyTypes:
        """A key written before a passphrase was configured: encrypted now, so a folder made
        without CIVITAS_KEY_PASSPHRASE keeps working once one is set. The other way round (an
        encrypted key and no passphrase) is refused: `cryptography` raises TypeError for both."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError:
            raise KeyringError(
                f"cannot read {path}: it is encrypted: set CIVITAS_KEY_PASSPHRASE"
            ) from None
        if not self._passphrase or not isinstance(key, Ed25519PrivateKey):
            return key
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        self._write_private_key(temporary, key)
        temporary.replace(path)
        return key

    def _write_keyring(self, keyring: PublicKeyring) -> None:
        temporary = self.path / f".{KEYRING_FILE}.{secrets.token_hex(4)}"
        temporary.write_bytes(keyring.to_json_bytes())
        temporary.replace(self.keyring_path)  # atomic: readers see the old or the new keyring


def _kid_number(kid: str) -> int:
    return int(kid[1:]) if kid[1:].isdigit() else 0


class EntrySigner:
    """Signs entries with the entry key current now; follows rotations made by other processes."""

    def __init__(self, folder: KeyFolder, clock: Clock) -> None:
        self._folder = folder
        self._clock = clock
        self._lock = threading.Lock()
        self._private_keys: dict[str, Ed25519PrivateKey] = {}
        self._current: tuple[float, str, Ed25519PrivateKey] | None = None
        self._keyring = folder.load_keyring()
        self._keyring_mtime = folder.keyring_path.stat().st_mtime_ns
        self._checked_at = time.monotonic()

    def now(self) -> datetime:
        """The node's one clock: what the signer chooses its key by, and every entry's `at`."""
        return self._clock()

    @property
    def keyring(self) -> PublicKeyring:
        self._reload_if_changed()
        return self._keyring

    def current_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The key to sign with now. On the write path of every event, so it is cached and
        chosen again at most once per RELOAD_INTERVAL (rotations keep a grace period for that)."""
        cached = self._current
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1], cached[2]
        kid = self.keyring.current_entry_key(self._clock()).kid
        with self._lock:
            private_key = self._private_keys.get(kid)
            if private_key is None:
                private_key = self._private_keys[kid] = self._folder.entry_private_key(kid)
            self._current = (time.monotonic() + RELOAD_INTERVAL, kid, private_key)
        return kid, private_key

    def public_key(self, kid: str) -> EntryKey | None:
        key = self.keyring.entry_key(kid)
        if key is None:
            self._reload_if_changed(force=True)
            key = self._keyring.entry_key(kid)
        return key

    def refresh(self) -> None:
        """Look at the key folder now rather than at the next reload interval."""
        self._reload_if_changed(force=True)
        self._current = None

    def _reload_if_changed(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked_at < RELOAD_INTERVAL:
            return
        with self._lock:
            self._checked_at = time.monotonic()
            mtime = self._folder.keyring_path.stat().st_mtime_ns
            if mtime != self._keyring_mtime:
                self._keyring = self._folder.load_keyring()
                self._keyring_mtime = mtime
