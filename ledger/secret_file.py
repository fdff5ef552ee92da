"""A 32-byte secret key in a file of its own: the key-encryption key that wraps every citizen's
data key, and the key of the national-identifier lookup.

The file is mode 0600 from its first byte and is refused when group or others may read it. With
a key passphrase (CIVITAS_KEY_PASSPHRASE, the one that encrypts the signing keys' PEM files) the
secret is stored wrapped, so a copy of the key folder (a backup, a stray volume) does not hold
it in clear:

    {"format": "civitas-secret/v1", "kdf": "scrypt", "n": 131072, "r": 8, "p": 1,
     "salt": "<base64>", "nonce": "<base64>", "ciphertext": "<base64>"}

scrypt with OWASP's parameters (N=2^17, r=8, p=1) derives a 256-bit key from the passphrase;
AES-256-GCM wraps the secret, its associated data naming the file's purpose, so one wrapped file
does not open in another's place. Without a passphrase the file holds the 32 raw bytes, as it
always did; a raw file found while a passphrase is configured is wrapped in place (the same
secret, so nothing sealed with it changes).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.keyring import KeyringError, check_owner_only

SECRET_SIZE = 32
FORMAT = "civitas-secret/v1"
SCRYPT_N = 2**17  # OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1 (128 MiB)
SCRYPT_R = 8
SCRYPT_P = 1
# Sanity ceilings for parameters read back: a tampered file must not exhaust the memory.
_MAX_N = 2**22
_MAX_R = 32
_MAX_P = 16


class SecretFile:
    """One secret's file; `read_or_create` returns its 32 bytes and never logs or shows them."""

    def __init__(self, path: Path, passphrase: bytes | None = None) -> None:
        self.path = path
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return f"SecretFile({str(self.path)!r}, wrapped={self._passphrase is not None})"

    def read_or_create(self) -> bytes:
        """The secret; created on first use (O_EXCL: two processes never make two)."""
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read()
        secret = os.urandom(SECRET_SIZE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(self._stored_form(secret))
        return secret

    def _read(self) -> bytes:
        check_owner_only(self.path)
        stored = self.path.read_bytes()
        if len(stored) == SECRET_SIZE:
            if self._passphrase:
                self._replace(self._stored_form(stored))  # wrap a key made before a passphrase
            return stored
        try:
            wrapped = json.loads(stored)
            if not isinstance(wrapped, dict) or wrapped.get("format") != FORMAT:
                raise ValueError("not a civitas-secret/v1 file")
        except ValueError:
            raise KeyringError(
                f"{self.path} must hold {SECRET_SIZE} bytes or a wrapped secret"
            ) from None
        if not self._passphrase:
            raise KeyringError(
                f"{self.path} is wrapped with a passphrase: set CIVITAS_KEY_PASSPHRASE"
            )
        return self._unwrap(wrapped)

    def _stored_form(self, secret: bytes) -> bytes:
        if not self._passphrase:
            return secret
        salt, nonce = os.urandom(16), os.urandom(12)
        key = _derive(self._passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        ciphertext = AESGCM(key).encrypt(nonce, secret, self._associated_data())
        document = {
            "format": FORMAT,
            "kdf": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
        return json.dumps(document).encode() + b"\n"

    def _unwrap(self, wrapped: dict[str, object]) -> bytes:
        assert self._passphrase
        try:
            n, r, p = (int(str(wrapped[name])) for name in ("n", "r", "p"))
            if wrapped["kdf"] != "scrypt" or not (1 < n <= _MAX_N and 0 < r <= _MAX_R):
                raise ValueError("unsupported key derivation")
            if not 0 < p <= _MAX_P:
                raise ValueError("unsupported key derivation")
            salt, nonce, ciphertext = (
                base64.b64decode(str(wrapped[name]), validate=True)
                for name in ("salt", "nonce", "ciphertext")
            )
            key = _derive(self._passphrase, salt, n, r, p)
            secret = AESGCM(key).decrypt(nonce, ciphertext, self._associated_data())
        except InvalidTag:
            raise KeyringError(
                f"cannot unwrap {self.path}: wrong CIVITAS_KEY_PASSPHRASE, or the file was changed"
            ) from None
        except (KeyError, ValueError) as error:
            raise KeyringError(f"cannot read {self.path}: {error}") from None
        if len(secret) != SECRET_SIZE:
            raise KeyringError(f"{self.path} does not hold a {SECRET_SIZE}-byte secret")
        return secret

    def _associated_data(self) -> bytes:
        return f"civitas/secret/v1\n{self.path.name}".encode()

    def _replace(self, stored: bytes) -> None:
        """Write the file anew, atomically: readers see the old or the new form, both valid."""
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(stored)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)


@lru_cache(maxsize=8)
def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt costs 128 MiB and a few tenths of a second: once per file per process."""
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)
