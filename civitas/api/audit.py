"""AuditService: the gRPC face of `AuditLog` (read-only; the auditor and admin roles)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from civitas.api.data_key_proofs import DataKeyProofStream
from civitas.api.projection_rows import ProjectionRowStream
from ledger.audit import AuditLog
from ledger.keyring import raw_public_bytes
from protos.civitas.v1 import audit_pb2, audit_pb2_grpc


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(
        self,
        audit: AuditLog,
        projections: ProjectionRowStream,
        data_key_proofs: DataKeyProofStream,
    ) -> None:
        self._audit = audit
        self._projections = projections
        self._data_key_proofs = data_key_proofs

    def GetLatestCheckpoint(
        self, request: audit_pb2.GetLatestCheckpointRequest, context: grpc.ServicerContext
    ) -> audit_pb2.Checkpoint:
        checkpoint = self._audit.latest_checkpoint()
        return audit_pb2.Checkpoint(
            note=checkpoint.note, tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash
        )

    def GetInclusionProof(
        self, request: audit_pb2.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.InclusionProof:
        proof = self._audit.inclusion_proof(request.index, request.tree_size)
        return audit_pb2.InclusionProof(
            index=proof.index,
            tree_size=proof.tree_size,
            leaf_hash=proof.leaf_hash,
            hashes=proof.hashes,
        )

    def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ConsistencyProof:
        to_size, hashes = self._audit.consistency_proof(request.from_size, request.to_size)
        return audit_pb2.ConsistencyProof(
            from_size=request.from_size, to_size=to_size, hashes=hashes
        )

    def StreamEntries(
        self, request: audit_pb2.StreamEntriesRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.LedgerEntry]:
        for entry in self._audit.entries(request.from_index, request.to_index):
            yield audit_pb2.LedgerEntry(
                index=entry.index,
                entry=entry.entry.decode(),
                signature=entry.signature,
                payload=entry.payload,
            )

    def GetKeyring(
        self, request: audit_pb2.GetKeyringRequest, context: grpc.ServicerContext
    ) -> audit_pb2.Keyring:
        keyring = self._audit.keyring()
        return audit_pb2.Keyring(
            entry_keys=[
                audit_pb2.EntryKey(
                    kid=key.kid,
                    public_key=raw_public_bytes(key.public_key),
                    not_before=key.to_json()["not_before"],
                    not_after=key.to_json()["not_after"] or "",
                )
                for key in keyring.entry_keys
            ],
            checkpoint_keys=keyring.checkpoint_keys,
            origin=keyring.origin,
            json=keyring.to_json_bytes().decode(),
        )

    def StreamProjection(
        self, request: audit_pb2.StreamProjectionRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.ProjectionRows]:
        yield from self._projections.stream(request.name)

    def ProveDataKeys(
        self, request: audit_pb2.ProveDataKeysRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.DataKeyProofs]:
        yield from self._data_key_proofs.stream(request.challenge)
