"""The signed event store: one notification log shared by every ledger application.

All ledger applications (service accounts, identity, transactions…) write into the same events
table through one `SignedMapper`, so the notification log is the single ordered history the
sequencer turns into a Merkle tree. SQLite is the embedded default; PostgreSQL is the path to
several server replicas on one database.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse
from uuid import UUID

import psycopg
from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    EventStore,
    InfrastructureFactory,
    JSONTranscoder,
    ListenNotifySubscription,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
    Subscription,
    TrackingRecorder,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTransaction,
)
from eventsourcing.utils import Environment

from ledger.breaker import ConnectionBreaker, connect_probe, protect
from ledger.envelope import erase_payload
from ledger.keyring import EntrySigner
from ledger.leader import advisory_lock_key, held_file_lock
from ledger.mapper import SignedMapper
from ledger.repository import CachedRepository, Collected
from ledger.secure_delete import reclaim
from ledger.snapshots import SnapshotStore
from ledger.sql_dialect import POSTGRES_EVENTS, SQLITE_EVENTS, dialect_of
from ledger.sqlite_pool import unblock_readers

LOG_NAME = "ledger"  # the one application name every ledger application shares
SQLITE_EVENTS_TABLE = SQLITE_EVENTS[0]
POSTGRES_EVENTS_TABLE = POSTGRES_EVENTS[0]  # eventsourcing names it after LOG_NAME
# Snapshots (ledger/snapshots.py): eventsourcing's aggregate recorder for the purpose "snapshots".
SNAPSHOTS_TABLES = {"sqlite": "stored_snapshots", "postgresql": "ledger_snapshots"}
# Aggregates each ledger application keeps in memory between requests, brought up to date with
# one read of any newer events before each use: a sign-in then neither replays nor re-checks
# the signatures of events this process has already checked (issue 14).
AGGREGATE_CACHE_SIZE = 4096
SQLITE_POLL_INTERVAL = 0.05
# Views and followers keep one idle PostgreSQL connection each (they grow on demand): with
# two, one idle server held 43 connections and a few replicas filled PostgreSQL's default 100.
ONE_IDLE = {"POSTGRES_POOL_SIZE": "1"}


@dataclass(frozen=True)
class Database:
    """Where the ledger lives: `sqlite:///path` (or a plain path) or `postgresql://…`."""

    url: str

    @property
    def is_postgres(self) -> bool:
        return urlparse(self.url).scheme in ("postgres", "postgresql")

    def persistence_env(self) -> dict[str, str]:
        """The `eventsourcing` environment for this database."""
        if self.is_postgres:
            parts = urlparse(self.url)
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                # Each follower and view has a pool of its own: keep the idle minimum small so a
                # few replicas stay well inside PostgreSQL's default 100 connections.
                "POSTGRES_POOL_SIZE": "2",
                "POSTGRES_MAX_OVERFLOW": "10",
                # While PostgreSQL is down or restarting, a call waits at most this long for a
                # connection before it answers UNAVAILABLE; pooled connections are pinged before
                # use, so the first calls after a restart do not fail on dead sockets.
                "POSTGRES_CONNECT_TIMEOUT": "2",
                "POSTGRES_PRE_PING": "y",
            }
            schema = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
            if "schema" in schema:
                env["POSTGRES_SCHEMA"] = schema["schema"]
            return env
        return {
            "PERSISTENCE_MODULE": "ledger.secure_delete:SecureSQLiteFactory",
            "SQLITE_DBNAME": str(self.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:SQLiteLedgerRecorder",
        }

    @property
    def sqlite_path(self) -> Path:
        parts = urlparse(self.url)
        return Path(parts.path if parts.scheme == "sqlite" else self.url)

    def protect_files(self) -> None:
        """A SQLite database is the owner's only (0600), made so before SQLite first opens it:
        SQLite creates its -wal and -shm files with the database file's mode. One made wider
        by an older release is narrowed. (PostgreSQL keeps its own files 0600 already.)"""
        if self.is_postgres:
            return
        path = self.sqlite_path
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except FileNotFoundError:
            return  # no folder for it: SQLite reports that in its own words
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            try:
                status = file.stat()
                if status.st_mode & 0o077 and status.st_uid == os.geteuid():
                    file.chmod(0o600)
            except FileNotFoundError:
                continue

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Serialise table creation between processes: PostgreSQL fails concurrent DDL on the
        same objects ("tuple concurrently updated") when replicas start together."""
        if not self.is_postgres:
            yield
            return
        with self._advisory_lock("schema"):
            yield

    @contextmanager
    def upgrade_lock(self) -> Iterator[None]:
        """One schema upgrade at a time, from reading the version to recording the new one.
        (Its own lock: the table creation inside takes `schema_lock` on other connections.)"""
        if self.is_postgres:
            with self._advisory_lock("upgrade"):
                yield
            return
        self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        with held_file_lock(self.sqlite_path.with_suffix(".upgrade.lock")):
            yield

    @contextmanager
    def _advisory_lock(self, purpose: str) -> Iterator[None]:
        key = advisory_lock_key(f"civitas.{purpose}:{self.url}")
        with psycopg.connect(self.postgres_conninfo, autocommit=True) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))

    @property
    def postgres_conninfo(self) -> str:
        env = self.persistence_env()
        return (
            f"dbname={env['POSTGRES_DBNAME']} host={env['POSTGRES_HOST']} "
            f"port={env['POSTGRES_PORT']} user={env['POSTGRES_USER']}"
            + (f" password={env['POSTGRES_PASSWORD']}" if env["POSTGRES_PASSWORD"] else "")
        )


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    """SQLite has no LISTEN/NOTIFY; poll, which also sees writes made by other processes."""

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._poll_thread = threading.Thread(target=self._poll, daemon=True)
        self._poll_thread.start()

    def _poll(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            time.sleep(SQLITE_POLL_INTERVAL)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._poll_thread.join()


class _SingleStatement(SQLiteTransaction):
    """A transaction of one statement, which SQLite commits itself (autocommit): the same
    durability as BEGIN…COMMIT, and the same errors mapped to `eventsourcing`'s, without the two
    round trips (benchmarks/append.py)."""

    def __enter__(self) -> SQLiteCursor:
        return self.connection.cursor()


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Most saves (an RPC's command) store one event: one INSERT is its own transaction."""
        if len(stored_events) != 1:
            return super().insert_events(stored_events, **kwargs)
        with (
            self.datastore.get_connection(commit=True) as connection,
            _SingleStatement(connection, commit=True) as cursor,
            cursor,
        ):
            return self._insert_events(cursor, stored_events)

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)


class LedgerStore:
    """One infrastructure factory, one recorder, one signing mapper, shared by the applications."""

    def __init__(
        self,
        database: Database,
        signer: EntrySigner,
        *,
        verify_on_read: bool = True,
        create_tables: bool = True,
    ) -> None:
        self.database = database
        # Without `create_tables` no recorder runs DDL: `civitas db upgrade` has made the tables.
        self.env = {**database.persistence_env(), "CREATE_TABLE": "yes" if create_tables else "no"}
        database.protect_files()
        self.factory = InfrastructureFactory.construct(_named_env(self.env))
        self.datastore: SQLiteDatastore | PostgresDatastore = self.factory.datastore  # type: ignore[attr-defined]
        self.breaker = (
            ConnectionBreaker(connect_probe(database.postgres_conninfo))
            if database.is_postgres
            else None
        )
        self._protect(self.datastore)
        self.signer = signer
        transcoder = self.construct_transcoder()
        self.mapper = SignedMapper(transcoder, signer, verify_on_read=verify_on_read)
        with database.schema_lock():
            self.recorder = self.factory.application_recorder()
            snapshots = self.factory.aggregate_recorder(purpose="snapshots")
        self.snapshots = SnapshotStore(signer, snapshots)
        self._view_factories: list[InfrastructureFactory[Any]] = []

    @staticmethod
    def construct_transcoder() -> JSONTranscoder:
        transcoder = JSONTranscoder()
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
        return transcoder

    def erase_payloads(self, stream: UUID, below_version: int, topic: str | None = None) -> int:
        """Drop the stored payloads of a stream's events before `below_version` (GDPR art. 17),
        only those of `topic` when one is named.

        The only change Civitas ever makes to a stored event: the entry and its signature stay,
        so every proof still verifies and auditors see the payload as erased. The old bytes are
        overwritten in the database files too (`ledger.secure_delete`, `reclaim_space`)."""
        dialect = dialect_of(self.datastore)
        key = dialect.param(stream)
        select = dialect.sql(
            "SELECT originator_version, state FROM {events} "  # noqa: S608 - fixed names
            "WHERE originator_id = ? AND originator_version < ?"
            + ("" if topic is None else " AND topic = ?")
        )
        update = dialect.sql(
            "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?"
        )
        # Snapshots hold the state the erased payloads made: they go with them.
        delete_snapshots = dialect.sql(
            f"DELETE FROM {{{SNAPSHOTS_TABLES[dialect.name]}}} WHERE originator_id = ?"  # noqa: S608
        )
        with self.datastore.transaction(commit=True) as cursor:
            if not self.database.is_postgres:
                # Take SQLite's write lock before reading. A deferred transaction that reads
                # first and then writes is refused at once ("database is locked") when another
                # connection writes meanwhile (a view's pool: the timeline's scrub of this very
                # erasure, its WAL checkpoint): the busy timeout is not applied to a read
                # transaction's upgrade. A write first waits for the lock as any write does.
                cursor.execute(dialect.sql("UPDATE {events} SET state = state WHERE 0"))
            cursor.execute(select, (key, below_version, *(() if topic is None else (topic,))))
            rows = [(row["originator_version"], bytes(row["state"])) for row in cursor.fetchall()]
            for version, state in rows:
                cursor.execute(update, (erase_payload(state), key, version))
            cursor.execute(delete_snapshots, (key,))
        return len(rows)

    def reclaim_space(self, *tables: str) -> None:
        """After an erasure: no old copy of what it deleted stays in the database files."""
        events = POSTGRES_EVENTS_TABLE if self.database.is_postgres else SQLITE_EVENTS_TABLE
        snapshots = SNAPSHOTS_TABLES[dialect_of(self.datastore).name]  # erasure deletes there too
        reclaim(self.datastore, events, snapshots, *tables)

    def tracking_recorder(self, name: str, recorder_class: type[TrackingRecorder]) -> Any:
        """A tracking recorder (a projection's view) on the same database, closed with the store."""
        factory = InfrastructureFactory.construct(_named_env({**self.env, **ONE_IDLE}, name))
        self._view_factories.append(factory)
        self._protect(factory.datastore)  # type: ignore[attr-defined]
        with self.database.schema_lock():
            return factory.tracking_recorder(recorder_class)

    def _protect(self, datastore: SQLiteDatastore | PostgresDatastore) -> None:
        """Requests fail fast while PostgreSQL is unreachable (SQLite is never unreachable);
        on SQLite, reads do not queue behind another request's commit (ledger/sqlite_pool.py)."""
        if isinstance(datastore, PostgresDatastore) and self.breaker is not None:
            protect(datastore, self.breaker)
        if isinstance(datastore, SQLiteDatastore):
            unblock_readers(datastore)

    @property
    def follower_env(self) -> dict[str, str]:
        """For followers' runners, which build their own recorders: the node has created every
        table already (under the schema lock), so they must not run DDL again concurrently."""
        return {**self.env, **ONE_IDLE, "CREATE_TABLE": "no"}

    def close(self) -> None:
        for factory in self._view_factories:
            factory.close()
        self.factory.close()


def _named_env(env: dict[str, str], name: str = LOG_NAME) -> Environment:
    return Environment(name, env)


class SignedEventStore(EventStore[UUID]):
    """Stores as `eventsourcing` does, with a large save's signatures made on every core."""

    mapper: SignedMapper

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        stored_events = self.mapper.to_stored_events(domain_events)
        notification_ids = self.recorder.insert_events(stored_events, **kwargs)
        return [
            Recording(event, Notification(**vars(stored), id=notification_id))
            for event, stored, notification_id in zip(
                domain_events, stored_events, notification_ids or (), strict=True
            )
        ]


class LedgerApplication(Application[UUID]):
    """Base of every application that writes to the ledger: it uses the store's signed log."""

    name = LOG_NAME
    store: LedgerStore
    # The aggregates whose streams grow without bound, each with the dataclasses its state
    # holds: they are snapshotted (ledger/snapshots.py).
    snapshotted: ClassVar[dict[type, tuple[type, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = LOG_NAME

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        super().__init__(store.env)

    def construct_factory(self, env: Any) -> InfrastructureFactory:
        return self.store.factory

    def construct_mapper(self) -> Mapper[UUID]:
        return self.store.mapper

    def construct_recorder(self) -> ApplicationRecorder:
        return self.store.recorder

    def construct_event_store(self) -> EventStore[UUID]:
        return SignedEventStore(mapper=self.store.mapper, recorder=self.store.recorder)

    def construct_repository(self) -> Repository[UUID]:
        # The store's signed snapshots, and a cache that is fast-forwarded from the store on
        # every read (so another replica's writes are seen) and copied out (so a command that
        # fails leaves it as stored).
        self.snapshots = self.store.snapshots
        for aggregate, values in self.snapshotted.items():
            self.store.snapshots.mapper.allow(aggregate, values)
        return CachedRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=AGGREGATE_CACHE_SIZE,
            fastforward=True,
        )

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """As `Application.save`, collecting with `Collected` (ledger/repository.py)."""
        processing_event = Collected()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        recordings = super()._record(processing_event)
        # What was just saved is what the store now holds: cached as it is, the next read
        # fast-forwards from here instead of reading back (and re-checking) our own events.
        repository = self.repository
        if isinstance(repository, CachedRepository):
            for aggregate in processing_event.aggregates.values():
                repository.remember(aggregate)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # From the aggregates as saved: `eventsourcing`'s own would load each one again.
        first_versions: dict[UUID, int] = {}
        for stored in processing_event.events:
            first_versions.setdefault(stored.originator_id, stored.originator_version)
        for aggregate_id, aggregate in processing_event.aggregates.items():
            first = first_versions.get(aggregate_id)
            if first is not None and self.store.snapshots.due(aggregate, first):
                self.store.snapshots.take(aggregate)

    def close(self) -> None:
        """The store is shared; whoever built it closes it."""
