"""Personal data, encrypted field by field with the citizen's own key (docs/ledger-format.md
section 1).

Each citizen has a random AES-256-GCM data key. Data keys are kept apart from the events, in a
table of their own, wrapped by a key-encryption key that lives in the key folder (a file, itself
wrapped by the key passphrase when one is configured: `ledger.secret_file`), so neither a copy
of the database nor of the key folder alone reveals anyone's data. Erasing a
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Identifier

from identity.key_presence import presence_key, presence_public_key
from ledger.secret_file import SecretFile
from ledger.store import POSTGRES_EVENTS_TABLE

NONCE_SIZE = 12
SEAL_PREFIX = "v1."


class DataKeyMissing(Exception):
    """The citizen's data key is gone: they were erased."""


class KeySnapshot(ABC):
    """One moment of the database: how far the log had reached, and the data keys then."""

    @abstractmethod
    def position(self) -> tuple[int | None, int | None]:
        """(the highest stored notification id, the leaf it became, if sequenced yet)."""

    @abstractmethod
    def rows(self) -> Iterator[tuple[UUID, bytes]]:
        """Every (citizen id, wrapped key), by citizen id."""


class DataKeyTable(ABC):
    """Wrapped data keys, one row per citizen."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[KeySnapshot]: ...

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

    @contextmanager
    def snapshot(self) -> Iterator[KeySnapshot]:
        # A deferred BEGIN: WAL fixes the snapshot at the first read and keeps it to the end.
        with self._datastore.transaction(commit=False) as cursor:
            yield _SQLiteKeySnapshot(cursor)


# The log's rowid is its notification id (ledger.store.SQLITE_EVENTS_TABLE is stored_events).
SQLITE_POSITION = (
    "SELECT e.m, l.leaf_index FROM (SELECT MAX(rowid) AS m FROM stored_events) e "
    "LEFT JOIN merkle_leaves l ON l.notification_id = e.m"
)


class _SQLiteKeySnapshot(KeySnapshot):
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def position(self) -> tuple[int | None, int | None]:
        self._cursor.execute(SQLITE_POSITION)
        found = self._cursor.fetchone()
        return (found[0], found[1]) if found is not None else (None, None)

    def rows(self) -> Iterator[tuple[UUID, bytes]]:
        self._cursor.execute(
            "SELECT citizen_id, wrapped_key FROM citizen_data_keys ORDER BY citizen_id"
        )
        for citizen_id, wrapped in self._cursor.sqlite_cursor:
            yield UUID(hex=citizen_id), bytes(wrapped)


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

    @contextmanager
    def snapshot(self) -> Iterator[KeySnapshot]:
        with (
            self._datastore.get_connection() as connection,
            connection.transaction(force_rollback=True),
        ):
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _PostgresKeySnapshot(connection, self._datastore.schema, self._table)


class _PostgresKeySnapshot(KeySnapshot):
    FETCH_ROWS = 1000

    def __init__(self, connection: Any, schema: str, table: Any) -> None:
        self._connection = connection
        self._schema = Identifier(schema)
        self._table = table

    def position(self) -> tuple[int | None, int | None]:
        query = SQL(
            "SELECT e.m, l.leaf_index FROM (SELECT MAX(notification_id) AS m FROM {events}) e "
            "LEFT JOIN {leaves} l ON l.notification_id = e.m"
        ).format(
            events=SQL("{0}.{1}").format(self._schema, Identifier(POSTGRES_EVENTS_TABLE)),
            leaves=SQL("{0}.merkle_leaves").format(self._schema),
        )
        found = self._connection.execute(query).fetchone()
        return (None, None) if found is None else (found["m"], found["leaf_index"])

    def rows(self) -> Iterator[tuple[UUID, bytes]]:
        # A server-side cursor: PostgreSQL hands the rows over in batches as they are taken.
        with self._connection.cursor(name="data_key_presence") as cursor:
            cursor.itersize = self.FETCH_ROWS
            cursor.execute(
                SQL("SELECT citizen_id, wrapped_key FROM {0} ORDER BY citizen_id").format(
                    self._table
                )
            )
            for row in cursor:
                yield row["citizen_id"], bytes(row["wrapped_key"])


def data_key_table(datastore: object) -> DataKeyTable:
    if isinstance(datastore, PostgresDatastore):
        return PostgresDataKeyTable(datastore)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteDataKeyTable(datastore)
    raise TypeError(f"no data key table for {type(datastore).__name__}")


class DataKeyStore:
    """Creates, unwraps and destroys citizens' data keys; raw keys never leave this class."""

    def __init__(self, table: DataKeyTable, key_encryption_key: SecretFile) -> None:
        self._table = table
        self._wrapping = AESGCM(key_encryption_key.read_or_create())

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
        return FieldSealer(citizen_id, self._unwrap(citizen_id, wrapped))

    def holds(self, citizen_id: UUID) -> bool:
        """Whether the citizen's key is kept: False once they were erased (or never existed)."""
        return self._table.select(citizen_id) is not None

    def destroy(self, citizen_id: UUID) -> None:
        self._table.delete(citizen_id)

    @contextmanager
    def snapshot(self) -> Iterator[HeldKeys]:
        """The keys held at one moment, as presence keys (identity.key_presence)."""
        with self._table.snapshot() as snapshot:
            yield HeldKeys(snapshot, self._unwrap)

    def _unwrap(self, citizen_id: UUID, wrapped: bytes) -> bytes:
        return self._wrapping.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], citizen_id.bytes)


class HeldKeys:
    """The data keys of one snapshot, as presence keys: the raw keys stay inside."""

    def __init__(self, snapshot: KeySnapshot, unwrap: Callable[[UUID, bytes], bytes]) -> None:
        self._snapshot = snapshot
        self._unwrap = unwrap

    def position(self) -> tuple[int | None, int | None]:
        return self._snapshot.position()

    def presence_keys(self) -> Iterator[tuple[UUID, Ed25519PrivateKey]]:
        """Each held key's presence key. A row that does not unwrap (damaged, or wrapped by
        another key-encryption key) opens nothing: it is not held, and is left out."""
        for citizen_id, wrapped in self._snapshot.rows():
            try:
                data_key = self._unwrap(citizen_id, wrapped)
            except InvalidTag:
                continue
            yield citizen_id, presence_key(data_key, citizen_id)


class FieldSealer:
    """Encrypts and decrypts one citizen's fields."""

    def __init__(self, citizen_id: UUID, data_key: bytes) -> None:
        self._citizen_id = citizen_id
        self._cipher = AESGCM(data_key)
        self._data_key = data_key  # for the presence key, made only at registration

    def presence_public_key(self) -> str:
        """What `Registered` records, so an auditor can check the key is still held."""
        return presence_public_key(presence_key(self._data_key, self._citizen_id))

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

    def __init__(self, key: SecretFile) -> None:
        self._key = key.read_or_create()

    def __repr__(self) -> str:
        return "NationalIdentifierIndex()"

    def lookup_hash(self, national_identifier: str) -> str:
        normalised = unicodedata.normalize("NFKC", national_identifier).strip().upper()
        normalised = "".join(normalised.split())
        return hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()
