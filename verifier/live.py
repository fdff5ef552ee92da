"""Verify a running log through its AuditService (gRPC), with the same checks as a bundle.

The server is not trusted: its checkpoint must verify, the entries it streams must rebuild that
checkpoint's root, and a consistency proof must link the auditor's trusted checkpoint to it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from verifier.audit import Commitment, LogAudit
from verifier.bundle import verify_trusted_checkpoint
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.keyring import Keyring, KeyringError, keyring_from_json
from verifier.leaves import Record, check_records_in_worker, init_worker
from verifier.merkle import ProofError, verify_consistency
from verifier.note import NoteError
from verifier.parallel import ordered_map
from verifier.progress import Progress
from verifier.report import Report
from verifier.trust import Anchors, Pins, resolve

LIVE_CHECKS = (
    "keyring",
    "index",
    "entry_format",
    "signature",
    "key_window",
    "payload",
    "stream_versions",
    "entry_count",
    "checkpoint_signature",
    "checkpoint_root",
)
CHUNK_RECORDS = 4096
RPC_TIMEOUT = 30.0  # seconds for the unary calls; the entry stream has no deadline


class LiveError(OSError):
    """The server could not be reached or answered with an error (a usage/IO error, exit 2)."""


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
    stub: audit_pb2_grpc.AuditServiceStub, connection: Connection, size: int, chunk_records: int
) -> Iterator[tuple[int, list[Record]]]:
    """Chunks of streamed entries; stops one past ``size``, so a flooding server cannot stall us."""
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
) -> None:
    check = report.check("consistency_proof")
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
) -> Report:
    """Run every check against the server; raise LiveError if it cannot be asked."""
    report = Report("live", connection.target)
    for name in LIVE_CHECKS:
        report.check(name)
    try:
        with connection.channel() as channel:
            stub = _stub(channel)
            anchors = _anchors(stub, connection, pins, report)
            if anchors is None:
                return report
            message = stub.GetLatestCheckpoint(
                audit_pb2.GetLatestCheckpointRequest(),
                metadata=connection.metadata(),
                timeout=RPC_TIMEOUT,
            )
            latest = _latest_checkpoint(message, anchors, report)
            if latest is None:
                return report  # no verified size to stream to, no root to rebuild
            commitments = [Commitment(latest.size, latest.root, "checkpoint_root", "latest")]
            if trusted_checkpoint is not None:
                trusted = verify_trusted_checkpoint(trusted_checkpoint, anchors, report)
                if trusted is not None:
                    commitments.append(trusted)
                    _consistency(stub, connection, trusted, latest, report)
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
            )
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else None
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        raise LiveError(f"AuditService at {connection.target}: {code}: {details}") from None
    audit.finish()
    if audit.size == latest.size:
        report.check("entry_count").passed()
    else:
        report.check("entry_count").fail(
            f"the server streamed {audit.size:,} entries for a checkpoint of {latest.size:,}",
            where="StreamEntries",
        )
    return report


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
) -> None:
    progress = progress or Progress("verifying", None)
    results = ordered_map(
        check_records_in_worker,
        _records(stub, connection, size, chunk_records),
        jobs=jobs,
        initializer=init_worker,
        initargs=(anchors.keyring,),
        start_method="forkserver",  # forking a process that runs gRPC threads is unsafe
    )
    for result in results:
        audit.add(result)
        progress.update(audit.size, audit.size / max(size, 1))
    progress.close()
