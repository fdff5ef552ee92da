"""Proof that the service still holds each citizen's data key, for an auditor outside it
(docs/ledger-format.md section 8).

Deleting a citizen's data key shreds their data as surely as erasing them, but leaves no event:
an insider with access to the database could make someone's records unreadable unnoticed. So
every data key derives an Ed25519 *presence key* (HKDF-SHA256), whose public half the citizen's
`Registered` event records. On an auditor's fresh challenge the service signs, for every data
key it holds, `"civitas/data-key-presence/v1\\n" || challenge || citizen id`. Only the holder of
the data key can sign: a deleted key cannot be proved, whatever a changed server claims, and an
erased citizen's key that should be gone shows up if it is not. The public key reveals nothing
about the data key.

The proofs come from one database snapshot, which also names how far the log reached then
(`Position.tree_size`): since the erasure's event is stored before its key is deleted, a key
missing from the snapshot belongs to a citizen whose `Erased` event is among those leaves.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.errors import InvalidInput, Unavailable
from ledger.keyring import raw_public_bytes

if TYPE_CHECKING:
    from identity.personal_data import DataKeyStore

CONTEXT = b"civitas/data-key-presence/v1\n"
MIN_CHALLENGE, MAX_CHALLENGE = 16, 64
SEQUENCER_WAIT_SECONDS = 5.0
RETRY_SECONDS = 0.1


def presence_key(data_key: bytes, citizen_id: UUID) -> Ed25519PrivateKey:
    """The presence key of one data key: HKDF-SHA256, the citizen's id as salt."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=citizen_id.bytes, info=CONTEXT).derive(
        data_key
    )
    return Ed25519PrivateKey.from_private_bytes(seed)


def presence_public_key(key: Ed25519PrivateKey) -> str:
    """As the `Registered` payload's `key_presence` holds it: base64 of the 32 raw bytes."""
    return base64.b64encode(raw_public_bytes(key.public_key())).decode()


def presence_message(challenge: bytes, citizen_id: UUID) -> bytes:
    return CONTEXT + challenge + str(citizen_id).encode()


@dataclass(frozen=True)
class Position:
    tree_size: int  # every Erased event stored before the snapshot is among these leaves


@dataclass(frozen=True)
class Proof:
    citizen_id: UUID
    signature: bytes


class DataKeyPresence:
    """Proves, for one challenge, which data keys the service holds."""

    def __init__(
        self, data_keys: DataKeyStore, *, sequencer_wait: float = SEQUENCER_WAIT_SECONDS
    ) -> None:
        self._data_keys = data_keys
        self._sequencer_wait = sequencer_wait

    def prove(self, challenge: bytes) -> Iterator[Position | Proof]:
        """The snapshot's position, then one proof per data key held, by citizen id."""
        if not MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE:
            raise InvalidInput.of(
                "challenge", f"{MIN_CHALLENGE} to {MAX_CHALLENGE} random bytes of the auditor's"
            )
        deadline = time.monotonic() + self._sequencer_wait
        while True:
            with self._data_keys.snapshot() as snapshot:
                stored, leaf_index = snapshot.position()
                if stored is None or leaf_index is not None:
                    yield Position(0 if leaf_index is None else leaf_index + 1)
                    for citizen_id, key in snapshot.presence_keys():
                        signature = key.sign(presence_message(challenge, citizen_id))
                        yield Proof(citizen_id, signature)
                    return
            if time.monotonic() > deadline:
                raise Unavailable(
                    "the log's sequencer has not reached the data keys' moment; try again",
                    reason="NOT_YET_SEQUENCED",
                    retry_after=RETRY_SECONDS,
                )
            time.sleep(RETRY_SECONDS)
