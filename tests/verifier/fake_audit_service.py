"""A tiny in-process AuditService serving a factory log, honest or with chosen misbehaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc

from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from tests.rfc9162_tree import consistency_proof
from tests.verifier.bundle_factory import Log, raw_public, rfc3339

API_KEY = "test-api-key"


@dataclass
class Misbehaviour:
    omit: frozenset[int] = frozenset()  # leaf indices left out of StreamEntries
    extra: int = 0  # records streamed past the requested end
    forged_proof: bool = False  # a consistency proof of other hashes
    checkpoint_size: int | None = None  # serve the checkpoint at this size (None: the whole log)
    keyring_json: str | None = None  # a keyring.json that disagrees with the fields


@dataclass
class FakeAuditService(audit_pb2_grpc.AuditServiceServicer):
    log: Log
    bad: Misbehaviour = field(default_factory=Misbehaviour)

    def _authorise(self, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {API_KEY}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key")

    def GetKeyring(self, request: object, context: grpc.ServicerContext) -> audit_pb2.Keyring:
        self._authorise(context)
        return audit_pb2.Keyring(
            entry_keys=[
                audit_pb2.EntryKey(
                    kid=kid,
                    public_key=raw_public(self.log.entry_keys[kid]),
                    not_before=rfc3339(start),
                    not_after="" if end is None else rfc3339(end),
                )
                for kid, (start, end) in self.log.windows.items()
            ],
            checkpoint_keys=[self.log.checkpoint_key.vkey],
            origin=self.log.origin,
            json=self.bad.keyring_json or json.dumps(self.log.keyring()),
        )

    def _size(self) -> int:
        size = self.bad.checkpoint_size
        return len(self.log.records) if size is None else size

    def GetLatestCheckpoint(
        self, request: object, context: grpc.ServicerContext
    ) -> audit_pb2.Checkpoint:
        self._authorise(context)
        size = self._size()
        return audit_pb2.Checkpoint(
            note=self.log.checkpoint(size), tree_size=size, root_hash=self.log.root(size)
        )

    def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ConsistencyProof:
        self._authorise(context)
        to_size = request.to_size or self._size()
        proof = consistency_proof(request.from_size, self.log.leaf_hashes()[:to_size])
        if self.bad.forged_proof:
            proof = [bytes(32) for _ in proof]
        return audit_pb2.ConsistencyProof(
            from_size=request.from_size, to_size=to_size, hashes=proof
        )

    def StreamEntries(
        self, request: audit_pb2.StreamEntriesRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.LedgerEntry]:
        self._authorise(context)
        end = (request.to_index or self._size()) + self.bad.extra
        for record in self.log.records[request.from_index : end]:
            if record.index in self.bad.omit:
                continue
            yield audit_pb2.LedgerEntry(
                index=record.index,
                entry=record.entry,
                signature=record.signature,
                payload=record.payload,
            )

    def ProveDataKeys(
        self, request: audit_pb2.ProveDataKeysRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.DataKeyProofs]:
        self._authorise(context)
        yield audit_pb2.DataKeyProofs(tree_size=self._size())  # the factory log has no citizens


@contextmanager
def serving(
    service: FakeAuditService, credentials: grpc.ServerCredentials | None = None
) -> Iterator[str]:
    """Serve on 127.0.0.1 at a free port; yields the target ``host:port``."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    audit_pb2_grpc.add_AuditServiceServicer_to_server(service, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
