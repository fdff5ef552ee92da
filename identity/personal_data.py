"""Personal data, encrypted field by field with the citizen's own key (docs/ledger-format.md
section 1).

Each citizen has a random AES-256-GCM data key. Data keys are kept apart from the events, in a
table of their own, wrapped by a key-encryption key that lives in the key folder (a file), so
neither a copy of the database nor of the key folder alone reveals anyone's data. Erasing a
citizen deletes their data key (crypto-shredding): every ciphertext of theirs, wherever it was
copied, becomes noise, while the ledger's hashes and signatures still verify.

A sealed field is `v1.<base64(nonce || ciphertext)>`, bound by its associated data to the citizen
and the field's name, so a ciphertext copied into another field or record does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Identifier

NONCE_SIZE = 12
SEAL_PREFIX = "v1."


class DataKeyMissing(Exception):
    """The citizen's data key is gone: they were erased."""


def read_or_create_secret(path: Path) -> bytes:
    """A 32-byte secret in a 0600 file, created on first use (O_EXCL: never two different)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) != 32:
            raise ValueError(f"{path} must hold 32 bytes") from None
        return secret
    secret = os.urandom(32)
    with os.fdopen(descriptor, "wb") as file:
        file.write(secret)
    return secret


class DataKeyTable(ABC):
    """Wrapped data keys, one row per citizen."""

    @abstractmethod
    def create_table(self) -> None: ...

    @abstractmethod
    def insert(self, citizen_id: UUID, wrapped: bytes) -> None: ...

    @abstractmethod
    def select(self, citizen_id: UUID) -> bytes | None: ...

    @abstractmethod
    def delete(self, citizen_id: UUID) -> None: ...


class SQLiteDataKeyTable(DataKeyTable):
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self._datastore = datastore

    def create_table(self) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS citizen_data_keys ("
                "citizen_id TEXT PRIMARY KEY, wrapped_key BLOB NOT NULL) WITHOUT ROWID"
            )

    def insert(self, citizen_id: UUID, wrapped: bytes) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO citizen_data_keys VALUES (?, ?)", (citizen_id.hex, wrapped))

    def select(self, citizen_id: UUID) -> bytes | None:
        with self._datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT wrapped_key FROM citizen_data_keys WHERE citizen_id = ?", (citizen_id.hex,)
            )
            row = c.fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, citizen_id: UUID) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM citizen_data_keys WHERE citizen_id = ?", (citizen_id.hex,))


class PostgresDataKeyTable(DataKeyTable):
    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        self._table = SQL("{0}.citizen_data_keys").format(Identifier(datastore.schema))

    def _sql(self, statement: str) -> Any:
        return SQL(statement).format(table=self._table)

    def create_table(self) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {table} ("
                    "citizen_id uuid PRIMARY KEY, wrapped_key bytea NOT NULL)"
                )
            )

    def insert(self, citizen_id: UUID, wrapped: bytes) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(self._sql("INSERT INTO {table} VALUES (%s, %s)"), (citizen_id, wrapped))

    def select(self, citizen_id: UUID) -> bytes | None:
        with self._datastore.transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT wrapped_key FROM {table} WHERE citizen_id = %s"), (citizen_id,)
            )
            row = c.fetchone()
        return None if row is None else bytes(row["wrapped_key"])

    def delete(self, citizen_id: UUID) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(self._sql("DELETE FROM {table} WHERE citizen_id = %s"), (citizen_id,))


def data_key_table(datastore: object) -> DataKeyTable:
    if isinstance(datastore, PostgresDatastore):
        return PostgresDataKeyTable(datastore)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteDataKeyTable(datastore)
    raise TypeError(f"no data key table for {type(datastore).__name__}")


class DataKeyStore:
    """Creates, unwraps and destroys citizens' data keys; raw keys never leave this class."""

    def __init__(self, table: DataKeyTable, key_encryption_key_path: Path) -> None:
        self._table = table
        self._wrapping = AESGCM(read_or_create_secret(key_encryption_key_path))

    def create(self, citizen_id: UUID) -> FieldSealer:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_SIZE)
        wrapped = nonce + self._wrapping.encrypt(nonce, data_key, citizen_id.bytes)
        self._table.insert(citizen_id, wrapped)
        return FieldSealer(citizen_id, data_key)

    def sealer(self, citizen_id: UUID) -> FieldSealer:
        wrapped = self._table.select(citizen_id)
        if wrapped is None:
            raise DataKeyMissing(f"citizen {citizen_id} was erased")
        data_key = self._wrapping.decrypt(
            wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], citizen_id.bytes
        )
        return FieldSealer(citizen_id, data_key)

    def holds(self, citizen_id: UUID) -> bool:
        """Whether the citizen's key is kept: False once they were erased (or never existed)."""
        return self._table.select(citizen_id) is not None

    def destroy(self, citizen_id: UUID) -> None:
        self._table.delete(citizen_id)


class FieldSealer:
    """Encrypts and decrypts one citizen's fields."""

    def __init__(self, citizen_id: UUID, data_key: bytes) -> None:
        self._citizen_id = citizen_id
        self._cipher = AESGCM(data_key)

    def __repr__(self) -> str:
        return f"FieldSealer(citizen_id={self._citizen_id})"  # never the key

    def seal(self, field: str, plaintext: str) -> str:
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._cipher.encrypt(nonce, plaintext.encode(), self._associated(field))
        return SEAL_PREFIX + base64.b64encode(nonce + sealed).decode()

    def seal_if_given(self, field: str, plaintext: str) -> str:
        """Sealed, or "" for "": an absent value is not worth a ciphertext."""
        return self.seal(field, plaintext) if plaintext else ""

    def open(self, field: str, sealed: str) -> str:
        if not sealed.startswith(SEAL_PREFIX):
            raise ValueError(f"field {field} is not sealed")
        data = base64.b64decode(sealed[len(SEAL_PREFIX) :])
        try:
            plain = self._cipher.decrypt(
                data[:NONCE_SIZE], data[NONCE_SIZE:], self._associated(field)
            )
        except InvalidTag:
            raise ValueError(f"field {field} does not decrypt for this citizen") from None
        return plain.decode()

    def _associated(self, field: str) -> bytes:
        return f"civitas/field/v1\n{self._citizen_id}\n{field}".encode()


class NationalIdentifierIndex:
    """Keyed hashes of national identifiers: a lookup that never stores the identifier itself.

    HMAC with a secret key (not a plain hash): the identifier space is small and structured, so
    an unkeyed hash would be reversed by enumeration in minutes.
    """

    def __init__(self, key_path: Path) -> None:
        self._key = read_or_create_secret(key_path)

    def __repr__(self) -> str:
        return "NationalIdentifierIndex()"

    def lookup_hash(self, national_identifier: str) -> str:
        normalised = unicodedata.normalize("NFKC", national_identifier).strip().upper()
        normalised = "".join(normalised.split())
        return hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()
