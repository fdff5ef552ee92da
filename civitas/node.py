"""Assembles one Civitas process: keys, the signed store, the applications, the sequencer and
the projections.

Both the server and the CLI build a `Node`, so a CLI command writes through exactly the same
signing path as an RPC.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Self, TypeVar, cast

from civitas.config import Config, ConfigError
from civitas.metrics import ServiceMetrics
from identity.application import IdentityApplication, IdentitySettings
from identity.attestation import NO_TRUST, TrustAnchors, TrustListError, load_trust_anchors
from identity.citizen_fields import CitizenFields
from identity.key_presence import DataKeyPresence
from identity.lockout import LockoutPolicy
from identity.passkeys import RelyingParty
from identity.personal_data import DataKeyStore, NationalIdentifierIndex, data_key_table
from identity.tokens import TokenSigner
from ledger.accounts import ServiceAccounts
from ledger.audit import AuditLog
from ledger.catalogue import ServiceCatalogue
from ledger.checkpoint import NoteSigner
from ledger.data_access import DataAccessLog
from ledger.fork_guard import CheckpointStateFile, ForkGuard
from ledger.keyring import EntrySigner, KeyFolder, PublicKeyring
from ledger.leader import FileLeaderLock, LeaderLock, PostgresLeaderLock
from ledger.log_recorder import MerkleLogRecorder
from ledger.reanchor import LogAnchors
from ledger.schema import SCHEMA_VERSION, SchemaVersions
from ledger.secret_file import SecretFile
from ledger.sequencer import Sequencer, SequencerService, SequencerSettings
from ledger.store import LOG_NAME, Database, LedgerStore
from ledger.tiles import LogTiles
from ledger.transactions import TransactionsApplication
from ledger.view import RebuildableView, View, recorder_class
from ledger.witnessing import WitnessFeeder, feeders
from projections.audit_projection import AuditedProjections
from projections.cases import Cases
from projections.changes import ChangeFeed, PostgresChangeFeed, ProbingFeed
from projections.history import WATCH_POLL_SECONDS, WATCH_PROBE_MOST_ROWS, History
from projections.queue_view import QueueView
from projections.reader import KEYS_DIR_VARIABLE, VERIFY_VARIABLE
from projections.registry import (
    PROJECTIONS,
    QUEUE,
    STATISTICS,
    TIMELINE,
    Registered,
    audited_projections,
)
from projections.service import ProjectionService, ProjectionSettings
from projections.statistics_view import StatisticsView
from projections.timeline_view import TimelineView

V = TypeVar("V", bound=View)
P = TypeVar("P", bound=RebuildableView)
TOKEN_SIGNING_KEY_FILE = "token-t1"  # noqa: S105 - a file name: the key that signs citizen tokens


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_origin() -> str:
    """A C2SP origin unique to this installation, so its checkpoints never pass for another's."""
    return f"civitas.localhost/log/{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Initialised:
    keyring: PublicKeyring
    # This call made the keys. Decided under the key folder's lock, so of several processes
    # initialising one folder at once exactly one sees True.
    created_keys: bool


class Node:
    def __init__(self, config: Config, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        # The one clock: keys' validity, every entry's `at`, and every decision read it.
        self.clock = clock
        self.database = Database(config.database_url)
        self.keys = KeyFolder(config.keys_dir, config.key_passphrase)
        self._note_signer: tuple[str, NoteSigner] | None = None
        self._views: dict[str, View] = {}  # by follower name: one view each per process
        self._views_lock = threading.Lock()

    def initialise(self, origin: str | None = None) -> Initialised:
        """Create the data folder and the first keys; safe to call on every start."""
        # Owner only, as PostgreSQL keeps its data directory: the database holds sealed
        # personal data and every account's key hash.
        self.config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.keys.exclusive():
            created = not self.keys.exists()
            keyring = self.keys.initialise(origin or default_origin(), self.clock())
            # Every replica shares these: make them here, once, not on some first request where
            # two replicas starting together could race.
            self.keys.named_private_key(TOKEN_SIGNING_KEY_FILE)
            self.keys.encrypt_existing_keys()
            for secret in (self._data_key_encryption_key, self._national_id_lookup_key):
                secret.read_or_create()  # and wrapped now, if made before a passphrase was set
        return Initialised(keyring, created)

    @property
    def _data_key_encryption_key(self) -> SecretFile:
        path = self.config.keys_dir / "data-key-encryption.key"
        return SecretFile(path, self.config.key_passphrase)

    @property
    def _national_id_lookup_key(self) -> SecretFile:
        path = self.config.keys_dir / "national-identifier-lookup.key"
        return SecretFile(path, self.config.key_passphrase)

    @cached_property
    def signer(self) -> EntrySigner:
        return EntrySigner(self.keys, self.clock)

    @cached_property
    def store(self) -> LedgerStore:
        return LedgerStore(
            self.database,
            self.signer,
            verify_on_read=self.config.verify_on_read,
            create_tables=self.config.create_schema,
        )

    @cached_property
    def data_keys(self) -> DataKeyStore:
        table = data_key_table(self.store.datastore)
        if self.config.create_schema:
            with self.database.schema_lock():
                table.create_table()
        return DataKeyStore(table, self._data_key_encryption_key)

    def prepare_schema(self) -> None:
        """Create or upgrade the tables where this process may, else check the schema is the
        one this release needs: a production server never runs DDL behind an operator's back."""
        if self.config.create_schema:
            self.upgrade_schema()
            return
        found = SchemaVersions(self.store.datastore).current()
        if found > SCHEMA_VERSION:
            raise ConfigError(
                f"the database schema is at version {found}, newer than this release's "
                f"{SCHEMA_VERSION}: run a newer release of Civitas"
            )
        if found < SCHEMA_VERSION:
            raise ConfigError(
                f"the database schema is at version {found}, this release needs {SCHEMA_VERSION}: "
                "run `civitas db upgrade` (with this release) first"
            )

    def upgrade_schema(self) -> tuple[int, int]:
        """Create every table (idempotent) and record the schema version; (before, after)."""
        if not self.config.create_schema:
            raise ConfigError("this node was built not to create tables")
        with self.database.upgrade_lock():
            versions = SchemaVersions(self.store.datastore)
            before = versions.current()
            if before > SCHEMA_VERSION:
                raise ConfigError(
                    f"the database schema is at version {before}, newer than this release's "
                    f"{SCHEMA_VERSION}: run a newer release of Civitas"
                )
            # Each table is created, under the schema lock, by the recorder that owns it.
            self.data_keys  # noqa: B018
            self.create_views()
            if before != SCHEMA_VERSION:
                with self.database.schema_lock():
                    versions.record(SCHEMA_VERSION)
        return before, SCHEMA_VERSION

    @cached_property
    def data_key_presence(self) -> DataKeyPresence:
        return DataKeyPresence(self.data_keys)

    @cached_property
    def accounts(self) -> ServiceAccounts:
        return ServiceAccounts(self.store)

    @cached_property
    def identity(self) -> IdentityApplication:
        return IdentityApplication(
            self.store,
            data_keys=self.data_keys,
            national_ids=NationalIdentifierIndex(self._national_id_lookup_key),
            token_signer=TokenSigner("t1", self.keys.named_private_key(TOKEN_SIGNING_KEY_FILE)),
            settings=IdentitySettings(
                relying_party=RelyingParty(
                    id=self.config.rp_id, name="Civitas", origins=self.config.rp_origins
                ),
                allow_aal3=self.config.allow_aal3,
                attestation=self.attestation_trust,
                lockout=LockoutPolicy(
                    throttle_after=self.config.lockout_throttle_after,
                    lock_after=self.config.lockout_lock_after,
                ),
                session_absolute=timedelta(hours=self.config.session_hours),
                session_idle=timedelta(minutes=self.config.session_idle_minutes),
                token_issuer=self.config.token_issuer,
                token_audience=self.config.token_audience,
                activation_lifetime=timedelta(days=self.config.activation_days),
                recovery_wait=timedelta(hours=self.config.recovery_wait_hours),
            ),
            clock=self.clock,
            data_access=self.data_access,
            on_authentication=self.metrics.authentication_recorded,
        )

    @cached_property
    def attestation_trust(self) -> TrustAnchors:
        """The operator's allow-list of authenticator models (read once, at start)."""
        path = self.config.attestation_roots
        if path is None:
            return NO_TRUST
        try:
            return load_trust_anchors(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, TrustListError) as error:
            raise ConfigError(f"--attestation-roots {path}: {error}") from None

    @cached_property
    def metrics(self) -> ServiceMetrics:
        """This process's counters (a server serves them; a CLI command's are simply dropped)."""
        return ServiceMetrics()

    @cached_property
    def citizen_fields(self) -> CitizenFields:
        """Free text about a citizen, sealed with their key (notes, reasons, purposes)."""
        return CitizenFields(self.data_keys)

    @cached_property
    def data_access(self) -> DataAccessLog:
        return DataAccessLog(self.store, self.citizen_fields)

    def view_class(self, view: type[V], follower: str) -> type[V]:
        """The class `eventsourcing` builds `follower`'s view from, on this node's database."""
        return recorder_class(view, self.database.is_postgres, follower)

    def _view(self, view: type[V], follower: str) -> V:
        with self._views_lock:
            if follower not in self._views:
                self._views[follower] = self.store.tracking_recorder(
                    follower, self.view_class(view, follower)
                )
            return cast(V, self._views[follower])

    def view(self, registered: Registered[P]) -> P:
        return self._view(registered.view, registered.name)

    def projection_view(self, name: str) -> RebuildableView:
        if name not in PROJECTIONS:
            raise KeyError(name)
        view: RebuildableView = self.view(PROJECTIONS[name])
        return view

    @property
    def timeline_view(self) -> TimelineView:
        return self.view(TIMELINE)

    @property
    def queue_view(self) -> QueueView:
        return self.view(QUEUE)

    @property
    def statistics_view(self) -> StatisticsView:
        return self.view(STATISTICS)

    @property
    def log_view(self) -> MerkleLogRecorder:
        return self._view(MerkleLogRecorder, Sequencer.name)

    @cached_property
    def catalogue(self) -> ServiceCatalogue:
        return ServiceCatalogue.load(self.config.catalogue_path)

    @cached_property
    def transactions(self) -> TransactionsApplication:
        return TransactionsApplication(
            self.store,
            catalogue=self.catalogue,
            clock=self.clock,
            citizen_exists=self.identity.citizen_exists,
            fields=self.citizen_fields,
        )

    @cached_property
    def cases(self) -> Cases:
        return Cases(
            self.transactions, self.data_access, self.queue_view, self.catalogue, self.clock
        )

    @cached_property
    def audited_projections(self) -> AuditedProjections:
        return audited_projections(self.projection_view)

    @cached_property
    def history(self) -> History:
        return History(
            self.timeline_view,
            self.audit,
            self.log_view,
            self.store,
            self.timeline_changes,
            opened=self.citizen_fields.opened_summary,
        )

    @cached_property
    def timeline_changes(self) -> ChangeFeed:
        channel = self.timeline_view.channel
        if channel is not None:
            return PostgresChangeFeed(self.database.postgres_conninfo, channel)
        # SQLite has no notifications: one probe for the process, not a query per watcher.
        view = self.timeline_view
        return ProbingFeed(
            view.latest_position,
            lambda after, up_to: view.citizens_between(after, up_to, WATCH_PROBE_MOST_ROWS),
            WATCH_POLL_SECONDS,
        )

    def projections(self) -> list[ProjectionService]:
        self.create_views()
        env = {
            **self.store.follower_env,
            KEYS_DIR_VARIABLE: str(self.config.keys_dir),
            VERIFY_VARIABLE: "yes" if self.config.verify_on_read else "no",
        }
        return [
            ProjectionService(
                ProjectionSettings(
                    projection_class=registered.projection,
                    view_class=self.view_class(registered.view, name),
                    env=env,
                    leader_lock=self._lock_factory(name),
                )
            )
            for name, registered in PROJECTIONS.items()
        ]

    def _lock_factory(self, name: str) -> Callable[[], LeaderLock]:
        return lambda: self.leader_lock(name)

    @cached_property
    def audit(self) -> AuditLog:
        policy = self.config.witnesses
        return AuditLog(
            self.log_view,
            lambda: self.signer.keyring,
            self.config.checkpoint_interval,
            witnesses=policy.vkeys if policy else (),
            witness_threshold=policy.threshold if policy else 0,
        )

    def witness_feeders(self, leading: Callable[[], bool]) -> list[WitnessFeeder]:
        """One per configured witness, feeding it checkpoints while `leading` (the sequencer's
        leader lock) holds."""
        policy = self.config.witnesses
        if policy is None:
            return []
        return list(feeders(self.log_view, policy, leading, policy.refresh_seconds))

    @cached_property
    def log_tiles(self) -> LogTiles:
        """The tlog-tiles read API's source: the checkpoint is `audit`'s, GetLatestCheckpoint's."""
        return LogTiles(self.log_view, self.audit.latest_checkpoint)

    def leader_lock(self, follower: str = "sequencer") -> LeaderLock:
        """One holder per follower of the log; the database URL keeps schemas apart."""
        if self.database.is_postgres:
            name = f"civitas.{follower}:{self.database.url}"
            return PostgresLeaderLock(self.database.postgres_conninfo, name)
        return FileLeaderLock(self.database.sqlite_path.with_suffix(f".{follower}.lock"))

    def checkpoint_signer(self) -> NoteSigner:
        """The current checkpoint key's signer, read from disk again only after a rotation."""
        keyring = self.signer.keyring
        current = keyring.checkpoint_keys[-1]
        if self._note_signer is None or self._note_signer[0] != current:
            self._note_signer = (current, self.keys.checkpoint_signer(keyring))
        return self._note_signer[1]

    def create_views(self) -> None:
        """Create the sequencer's and every projection's tables now, under the schema lock:
        their runners start with table creation switched off (`LedgerStore.follower_env`)."""
        views = [self.log_view, *(self.view(registered) for registered in PROJECTIONS.values())]
        for view in views:
            view.max_tracking_id(LOG_NAME)  # constructing each view created its tables

    def sequencer(self) -> SequencerService:
        self.create_views()
        return SequencerService(
            SequencerSettings(
                persistence_env=self.store.follower_env,
                view_class=self.view_class(MerkleLogRecorder, Sequencer.name),
                origin=self.signer.keyring.origin,
                checkpoint_signer=self.checkpoint_signer,
                leader_lock=self.leader_lock(),
                checkpoint_interval=self.config.checkpoint_interval,
                guard=self.fork_guard(),
            )
        )

    @cached_property
    def log_anchors(self) -> LogAnchors:
        """Re-anchorings (imported here also so that every reader knows their event type)."""
        return LogAnchors(self.store)

    def fork_guard(self) -> ForkGuard:
        """The sequencer's memory of what it signed, in the keys folder the replicas share."""
        return ForkGuard(CheckpointStateFile(self.config.keys_dir), self.signer.keyring.origin)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if "timeline_changes" in self.__dict__:
            self.timeline_changes.close()
        if "store" in self.__dict__:
            self.store.close()
