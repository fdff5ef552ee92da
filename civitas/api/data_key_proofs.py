"""AuditService's ProveDataKeys: the data keys' presence proofs as protobuf messages."""

from __future__ import annotations

from collections.abc import Iterator

from identity.key_presence import DataKeyPresence, Position
from protos.civitas.v1 import audit_pb2 as pb

# Proofs per message: gRPC's cost per message, not per byte, dominates small ones.
PROOFS_PER_MESSAGE = 256


class DataKeyProofStream:
    def __init__(self, presence: DataKeyPresence) -> None:
        self._presence = presence

    def stream(self, challenge: bytes) -> Iterator[pb.DataKeyProofs]:
        batch = pb.DataKeyProofs()
        for item in self._presence.prove(challenge):
            if isinstance(item, Position):
                yield pb.DataKeyProofs(tree_size=item.tree_size)
                continue
            batch.proofs.append(
                pb.DataKeyProof(citizen_id=str(item.citizen_id), signature=item.signature)
            )
            if len(batch.proofs) == PROOFS_PER_MESSAGE:
                yield batch
                batch = pb.DataKeyProofs()
        if batch.proofs:
            yield batch
