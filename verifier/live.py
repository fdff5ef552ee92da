"""Verify a running log through its AuditService (gRPC), with the same checks as a bundle.

The server is not trusted: its checkpoint must verify, the entries it streams must rebuild that
checkpoint's root, and a consistency proof must link the auditor's trusted checkpoint to it.
With ``replay``, the transaction queue and the citizen timeline it serves must equal those
rebuilt here from the entries (verifier/replay.py). Every citizen's data key must be proved
held unless an Erased event is in the log, and not held if one is (verifier/data_keys.py).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from verifier.audit import Commitment, LogAudit
from verifier.bundle import verify_trusted_checkpoint
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.data_keys import CHECK as DATA_KEYS
from verifier.data_keys import CitizenKeys, check_data_keys, erased_but_proved
from verifier.keyring import Keyring, KeyringError, keyring_from_json
from verifier.leaves import Record, check_records_in_worker, init_worker
from verifier.merkle import ProofError, verify_consistency
from verifier.note import NoteError
from verifier.parallel import ordered_map
from verifier.progress import Progress
from verifier.replay import CHECK_OF, QUEUE, STATISTICS, TIMELINE, Replay
from verifier.report import Report
from verifier.state import CHECK as STORED
from verifier.state import VerifierState, remember_if_passed, remembered_checkpoint
from verifier.trust import Anchors, Pins, resolve
from verifier.witnesses import judge

LIVE_CHECKS = (
    "keyring",
    "index",
    "entry_format",
    "signature",
    "key_window",
    "payload",
    "stream_versions",
    "erasure",
    "entry_count",
    "checkpoint_signature",
    "checkpoint_root",
    DATA_KEYS,
)
CHALLENGE_BYTES = 32
CHUNK_RECORDS = 4096
RPC_TIMEOUT = 30.0  # seconds for the unary calls; the entry stream has no deadline
CHECKPOINT_POLL_SECONDS = 0.2
CHECKPOINT_WAIT_SECONDS = 10.0  # the service signs a checkpoint about every second


class LiveError(OSError):
    """The server could not be reached or answered with an error (a usage/IO error, exit 2)."""


class EntryWatcher(Protocol):
    def add(self, index: int, entry: str, payload: bytes | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Connection:
    target: str
    api_key: str | None = None
    ca_cert: bytes | None = None  # PEM; None means a plaintext channel
    client_cert: bytes | None = None
    client_key: bytes | None = None

    def channel(self) -> grpc.Channel:
        if self.ca_cert is None:
            return grpc.insecure_channel(self.target)
        credentials = grpc.ssl_channel_credentials(self.ca_cert, self.client_key, self.client_cert)
        return grpc.secure_channel(self.target, credentials)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()


def keyring_from_message(message: audit_pb2.Keyring) -> Keyring:
    """The keyring from its protobuf fields; if the server also sent its json, both must agree."""
    document = {
        "entry_keys": [
            {
                "kid": key.kid,
                "public_key": base64.b64encode(key.public_key).decode("ascii"),
                "not_before": key.not_before,
                "not_after": key.not_after or None,
            }
            for key in message.entry_keys
        ],
        "checkpoint_keys": list(message.checkpoint_keys),
        "origin": message.origin,
    }
    keyring = keyring_from_json(document)
    if message.json:
        try:
            published = keyring_from_json(json.loads(message.json))
        except ValueError as error:  # KeyringError and JSONDecodeError alike
            raise KeyringError(f"the keyring's json field: {error}") from None
        if published != keyring:
            raise KeyringError("the keyring's json field differs from its fields")
    return keyring


def _latest_checkpoint(
    message: audit_pb2.Checkpoint, anchors: Anchors, report: Report
) -> Checkpoint | None:
    check = report.check("checkpoint_signature")
    try:
        latest = verify_checkpoint(message.note, anchors.verifiers, anchors.keyring.origin)
    except NoteError as error:
        check.fail(str(error), where="latest checkpoint")
        return None
    if (message.tree_size, message.root_hash) != (latest.size, latest.root):
        check.fail(
            "tree_size/root_hash fields differ from the signed note", where="latest checkpoint"
        )
        return None
    check.passed()
    return latest


def _records(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    size: int,
    chunk_records: int,
    watchers: Sequence[EntryWatcher] = (),
) -> Iterator[tuple[int, list[Record]]]:
    """Chunks of streamed entries; stops one past ``size``, so a flooding server cannot stall us.
    The watchers (a replay, the data keys' ledger) see every entry on the way, in log order."""
    if size == 0:
        return  # to_index 0 would mean "everything": there is nothing to ask for
    request = audit_pb2.StreamEntriesRequest(from_index=0, to_index=size)
    call = stub.StreamEntries(request, metadata=connection.metadata())
    chunk: list[Record] = []
    start = 0
    try:
        for position, message in enumerate(call):
            payload = message.payload if message.HasField("payload") else None
            chunk.append((message.index, message.entry, message.signature, payload))
            if position < size:
                for watcher in watchers:
                    watcher.add(position, message.entry, payload)
            if len(chunk) == chunk_records or position == size:
                yield start, chunk
                start += len(chunk)
                chunk = []
            if position == size:
                break
    finally:
        call.cancel()
    if chunk:
        yield start, chunk


def _consistency(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    trusted: Commitment,
    latest: Checkpoint,
    report: Report,
    check_name: str = "consistency_proof",
) -> None:
    check = report.check(check_name)
    if trusted.size > latest.size:
        check.fail(
            f"the log shrank from {trusted.size:,} to {latest.size:,} entries",
            where="latest checkpoint",
        )
        return
    hashes: Sequence[bytes] = []
    if 0 < trusted.size < latest.size:
        request = audit_pb2.GetConsistencyProofRequest(from_size=trusted.size, to_size=latest.size)
        proof = stub.GetConsistencyProof(
            request, metadata=connection.metadata(), timeout=RPC_TIMEOUT
        )
        hashes = list(proof.hashes)
    if trusted.size == 0:
        check.passed()  # every log extends the empty one; RFC 9162 has no proof for it
        return
    try:
        verify_consistency(trusted.size, latest.size, trusted.root, latest.root, hashes)
    except ProofError as error:
        check.fail(str(error), where=f"sizes {trusted.size:,} -> {latest.size:,}")
        return
    check.passed()


def _stub(channel: grpc.Channel) -> audit_pb2_grpc.AuditServiceStub:
    generated: Any = audit_pb2_grpc  # grpc_tools emits stubs without type hints
    stub: audit_pb2_grpc.AuditServiceStub = generated.AuditServiceStub(channel)
    return stub


def verify_live(
    connection: Connection,
    *,
    pins: Pins,
    trusted_checkpoint: str | None = None,
    jobs: int = 1,
    chunk_records: int = CHUNK_RECORDS,
    progress: Progress | None = None,
    replay: bool = False,
    state: VerifierState | None = None,
) -> Report:
    """Run every check against the server; raise LiveError if it cannot be asked. With a
    `state`, the log is held to the checkpoint remembered there, and a passing run's is kept."""
    report = Report("live", connection.target)
    stored_checks = (STORED,) if state is not None else ()
    for name in (*LIVE_CHECKS, *stored_checks, *(CHECK_OF.values() if replay else ())):
        report.check(name)
    try:
        with connection.channel() as channel, ExitStack() as open_calls:
            stub = _stub(channel)
            anchors = _anchors(stub, connection, pins, report)
            if anchors is None:
                return report
            stored = remembered_checkpoint(state, anchors, report) if state else None
            # The read models and the data keys first: their positions say how far the
            # checkpoint must reach.
            served = _open_projections(stub, connection, open_calls, report) if replay else []
            proved = _open_data_keys(stub, connection, open_calls, report)
            sizes_needed = [projection.tree_size for projection in served]
            needed = max([*sizes_needed, proved.tree_size if proved else 0], default=0)
            message = _checkpoint_covering(stub, connection, needed, stored, report)
            if message is None:
                return report
            latest = _latest_checkpoint(message, anchors, report)
            if latest is None:
                return report  # no verified size to stream to, no root to rebuild
            judge(latest.note, pins.witnesses, report, "latest checkpoint")
            commitments = _commitments(
                stub, connection, anchors, latest, trusted_checkpoint, stored, report
            )
            served = _covered(served, latest.size, report)
            report.notes.extend(
                f"replay: the {p.name} was compared as of the log's first {p.tree_size:,} entries"
                for p in served
            )
            sizes = {projection.name: projection.tree_size for projection in served}
            rebuilt = (
                Replay(sizes.get(QUEUE), sizes.get(TIMELINE), sizes.get(STATISTICS))
                if served
                else None
            )
            citizen_keys = CitizenKeys()
            watchers: list[EntryWatcher] = [citizen_keys]
            if rebuilt is not None:
                watchers.append(rebuilt)
            audit = LogAudit(report, commitments)
            _stream(
                stub,
                connection,
                anchors,
                audit,
                size=latest.size,
                jobs=jobs,
                chunk_records=chunk_records,
                progress=progress,
                watchers=watchers,
            )
            if rebuilt is not None:
                for projection in served:
                    rebuilt.compare(projection.name, projection.rows, report)
            if proved is not None:
                _judge_data_keys(stub, connection, proved, citizen_keys, latest.size, report)
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else None
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        raise LiveError(f"AuditService at {connection.target}: {code}: {details}") from None
    audit.finish()
    _count_entries(audit, latest, report)
    if state is not None:
        remember_if_passed(state, anchors, latest, report)
    return report


def _commitments(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    anchors: Anchors,
    latest: Checkpoint,
    trusted_checkpoint: str | None,
    stored: Checkpoint | None,
    report: Report,
) -> list[Commitment]:
    """The roots the entries must rebuild: the latest checkpoint's, the one the auditor kept
    and the one this verifier remembered, each earlier one linked to the latest by a proof."""
    commitments = [Commitment(latest.size, latest.root, "checkpoint_root", "latest")]
    if trusted_checkpoint is not None:
        trusted = verify_trusted_checkpoint(trusted_checkpoint, anchors, report)
        if trusted is not None:
            commitments.append(trusted)
            _consistency(stub, connection, trusted, latest, report)
    if stored is not None:
        remembered = Commitment(stored.size, stored.root, STORED, "remembered checkpoint")
        commitments.append(remembered)
        _consistency(stub, connection, remembered, latest, report, STORED)
    return commitments


def _count_entries(audit: LogAudit, latest: Checkpoint, report: Report) -> None:
    if audit.size == latest.size:
        report.check("entry_count").passed()
    else:
        report.check("entry_count").fail(
            f"the server streamed {audit.size:,} entries for a checkpoint of {latest.size:,}",
            where="StreamEntries",
        )


@dataclass(frozen=True)
class _ServedProjection:
    name: str
    tree_size: int  # the served rows reflect the leaves [0, tree_size)
    rows: Iterator[audit_pb2.ProjectionRows]  # the rest of the stream, after its position


def _open_projections(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    open_calls: ExitStack,
    report: Report,
) -> list[_ServedProjection]:
    """Each read model's stream, read up to its position. The rest is read after the entries:
    the server holds its snapshot meanwhile, so the rows stay those of that position."""
    served = []
    for name in (QUEUE, TIMELINE, STATISTICS):
        request = audit_pb2.StreamProjectionRequest(name=name)
        call = stub.StreamProjection(request, metadata=connection.metadata())
        open_calls.callback(call.cancel)
        first = next(call, None)
        rows = len(first.queue) + len(first.timeline) + len(first.statistics) if first else 0
        if first is None or first.position.name != name or rows:
            report.check(CHECK_OF[name]).fail(
                "the stream does not begin with the projection's position",
                where="StreamProjection",
            )
            continue
        served.append(_ServedProjection(name, first.position.tree_size, call))
    return served


def _checkpoint_covering(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    size: int,
    stored: Checkpoint | None = None,
    report: Report | None = None,
) -> audit_pb2.Checkpoint | None:
    """The latest checkpoint, waiting a while for one of at least `size` entries: a projection
    may be a moment ahead of the last signed checkpoint (one is signed about every second).
    None (a failed check) when the server has none though this verifier remembers one."""
    deadline = time.monotonic() + CHECKPOINT_WAIT_SECONDS
    while True:
        try:
            message: audit_pb2.Checkpoint = stub.GetLatestCheckpoint(
                audit_pb2.GetLatestCheckpointRequest(),
                metadata=connection.metadata(),
                timeout=RPC_TIMEOUT,
            )
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            if stored is None or report is None or code != grpc.StatusCode.UNAVAILABLE:
                raise
            report.check(STORED).fail(
                f"the server offers no signed checkpoint, but this verifier verified one of "
                f"{stored.size:,} entries: its sequencer refuses to sign (a rolled-back or "
                "rewritten log), or the log was replaced",
                where="GetLatestCheckpoint",
            )
            return None
        if message.tree_size >= size or time.monotonic() > deadline:
            return message
        time.sleep(CHECKPOINT_POLL_SECONDS)


def _covered(served: list[_ServedProjection], size: int, report: Report) -> list[_ServedProjection]:
    """The projections the verified log reaches; the others fail, as nothing proves their rows."""
    for projection in served:
        if projection.tree_size > size:
            report.check(CHECK_OF[projection.name]).fail(
                f"the rows reflect {projection.tree_size:,} entries, but the latest checkpoint "
                f"covers only {size:,}: rows of entries no signed checkpoint commits to",
                where="StreamProjection",
            )
    return [projection for projection in served if projection.tree_size <= size]


def _anchors(
    stub: audit_pb2_grpc.AuditServiceStub, connection: Connection, pins: Pins, report: Report
) -> Anchors | None:
    request = audit_pb2.GetKeyringRequest()
    try:
        offered = keyring_from_message(
            stub.GetKeyring(request, metadata=connection.metadata(), timeout=RPC_TIMEOUT)
        )
    except KeyringError as error:
        report.check("keyring").fail(str(error), where="GetKeyring")
        if pins.keyring is None:
            return None
        offered = pins.keyring
    else:
        report.check("keyring").passed()
    anchors = resolve(offered, pins, "server")
    report.notes.extend(anchors.notes)
    return anchors


def _stream(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    anchors: Anchors,
    audit: LogAudit,
    *,
    size: int,
    jobs: int,
    chunk_records: int,
    progress: Progress | None,
    watchers: Sequence[EntryWatcher] = (),
) -> None:
    progress = progress or Progress("verifying", None)
    results = ordered_map(
        check_records_in_worker,
        _records(stub, connection, size, chunk_records, watchers),
        jobs=jobs,
        initializer=init_worker,
        initargs=(anchors.keyring,),
        start_method="forkserver",  # forking a process that runs gRPC threads is unsafe
    )
    for result in results:
        audit.add(result)
        progress.update(audit.size, audit.size / max(size, 1))
    progress.close()


@dataclass(frozen=True)
class _ProvedKeys:
    challenge: bytes
    tree_size: int  # the snapshot's log: the leaves [0, tree_size)
    messages: Iterator[audit_pb2.DataKeyProofs]  # the rest of the stream, after its position


def _prove_data_keys(
    stub: audit_pb2_grpc.AuditServiceStub, connection: Connection, open_calls: ExitStack
) -> _ProvedKeys | None:
    """A ProveDataKeys stream on a fresh challenge, read up to its position (None: no position
    came first). The proofs are read after the entries: the server keeps its snapshot."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    call = stub.ProveDataKeys(
        audit_pb2.ProveDataKeysRequest(challenge=challenge), metadata=connection.metadata()
    )
    open_calls.callback(call.cancel)
    first = next(call, None)
    if first is None or first.proofs:
        return None
    return _ProvedKeys(challenge, first.tree_size, call)


def _open_data_keys(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    open_calls: ExitStack,
    report: Report,
) -> _ProvedKeys | None:
    try:
        proved = _prove_data_keys(stub, connection, open_calls)
    except grpc.RpcError as error:
        if not isinstance(error, grpc.Call) or error.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        report.check(DATA_KEYS).fail(
            "the service does not offer ProveDataKeys: nothing shows that every citizen's data "
            "key is still held",
            where="ProveDataKeys",
        )
        return None
    if proved is None:
        report.check(DATA_KEYS).fail(
            "the stream does not begin with the snapshot's position", where="ProveDataKeys"
        )
    return proved


def _proofs(messages: Iterator[audit_pb2.DataKeyProofs]) -> dict[str, bytes]:
    return {proof.citizen_id: proof.signature for message in messages for proof in message.proofs}


def _judge_data_keys(
    stub: audit_pb2_grpc.AuditServiceStub,
    connection: Connection,
    proved: _ProvedKeys,
    keys: CitizenKeys,
    size: int,
    report: Report,
) -> None:
    if proved.tree_size > size:
        report.check(DATA_KEYS).fail(
            f"the data keys were read when the log held {proved.tree_size:,} entries, but the "
            f"latest checkpoint covers only {size:,}",
            where="ProveDataKeys",
        )
        return
    proofs = _proofs(proved.messages)
    still_held = None
    lingering = erased_but_proved(keys, proved.tree_size, proofs)
    if lingering:
        # An erasure in progress at the snapshot stores its event a moment before it deletes
        # the key: ask again, and only a key held then too is left behind.
        with ExitStack() as open_calls:
            again = _prove_data_keys(stub, connection, open_calls)
            still_held = lingering & set(_proofs(again.messages)) if again else lingering
    check_data_keys(report, keys, proved.tree_size, proved.challenge, proofs, still_held)
