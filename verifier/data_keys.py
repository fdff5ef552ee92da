"""Data key presence (docs/ledger-format.md section 8): is every citizen's data key still held
unless they were erased, and gone if they were?

A citizen's data key can be deleted (their data shredded) without the `Erased` event that says
why; and an erasure that left the key behind did not erase. The service cannot show its
database, but it can prove what it holds: for a fresh challenge it signs, with each held key's
presence key, and the `Registered` payload recorded the public half. So a key the service lost
cannot be proved, whatever it claims; a key it should have lost shows.

Its proofs come from one snapshot that names how far the log had reached then (`tree_size`):
the citizens registered in those leaves are judged, the erasures in those leaves excuse a
missing key (an erasure stores its event before deleting the key).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verifier.report import Report

CHECK = "data_keys"
CONTEXT = b"civitas/data-key-presence/v1\n"
REGISTERED = "identity.Citizen.Registered"
ERASED = "identity.Citizen.Erased"
_MARKERS = (f'"type":"{REGISTERED}"', f'"type":"{ERASED}"')


@dataclass(slots=True)
class Citizen:
    registered_at: int  # leaf index
    presence_key: bytes | None  # None: registered before keys had one, or the payload erased
    erased_at: int | None = None


@dataclass
class CitizenKeys:
    """What the entries say: who was registered (with which presence key) and who erased."""

    citizens: dict[str, Citizen] = field(default_factory=dict)

    def add(self, index: int, entry: str, payload: bytes | None) -> None:
        if not any(marker in entry for marker in _MARKERS):
            return  # the cheap test first: most entries are neither
        try:
            fields = json.loads(entry)
        except ValueError:
            return  # the entry_format check reports it
        stream, kind = fields.get("stream"), fields.get("type")
        if not isinstance(stream, str):
            return
        if kind == REGISTERED and stream not in self.citizens:
            self.citizens[stream] = Citizen(index, _presence_key(payload))
        elif kind == ERASED and stream in self.citizens:
            citizen = self.citizens[stream]
            citizen.erased_at = index if citizen.erased_at is None else citizen.erased_at


def _presence_key(payload: bytes | None) -> bytes | None:
    if payload is None:
        return None
    try:
        value = json.loads(payload).get("key_presence")
        key = base64.b64decode(value, validate=True) if isinstance(value, str) and value else b""
    except (ValueError, AttributeError):
        return None
    return key if len(key) == 32 else None


def proof_verifies(
    presence_key: bytes, challenge: bytes, citizen_id: str, signature: bytes
) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(presence_key).verify(
            signature, CONTEXT + challenge + citizen_id.encode()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def check_data_keys(
    report: Report,
    keys: CitizenKeys,
    tree_size: int,
    challenge: bytes,
    proofs: dict[str, bytes],
    still_held_after_erasure: set[str] | None = None,
) -> None:
    """Judge the citizens registered in the leaves [0, tree_size) against the proofs.

    `still_held_after_erasure`, when given, is what a second snapshot proved of the erased
    citizens the first one still held a key for: an erasure stores its event a moment before
    it deletes the key, so only a key still held then counts as left behind.
    """
    check = report.check(CHECK)
    unpinned = 0
    by_leaf = sorted(keys.citizens.items(), key=lambda item: item[1].registered_at)
    for citizen_id, citizen in by_leaf:
        if citizen.registered_at >= tree_size:
            continue  # registered after the snapshot: nothing was asked of its key
        where = f"citizen {citizen_id} (registered at leaf {citizen.registered_at})"
        signature = proofs.get(citizen_id)
        if citizen.erased_at is not None and citizen.erased_at < tree_size:
            held = signature is not None and (
                still_held_after_erasure is None or citizen_id in still_held_after_erasure
            )
            if held:
                check.fail(
                    f"erased at leaf {citizen.erased_at}, but the service still holds the data "
                    "key: the erasure did not shred the citizen's data",
                    index=citizen.erased_at,
                    where=where,
                )
            else:
                check.passed()
            continue
        if signature is None:
            check.fail(
                "the service holds no data key for this citizen, and no Erased event says why: "
                "the key was deleted outside an erasure",
                index=citizen.registered_at,
                where=where,
            )
        elif citizen.presence_key is None:
            unpinned += 1  # a key is held, but no presence key was recorded to prove it
            check.passed()
        elif proof_verifies(citizen.presence_key, challenge, citizen_id, signature):
            check.passed()
        else:
            check.fail(
                "the proof does not verify under the presence key the Registered event "
                "recorded: the service holds another key than the citizen's",
                index=citizen.registered_at,
                where=where,
            )
    if unpinned:
        report.notes.append(
            f"data keys: {unpinned:,} citizens registered before presence keys were recorded; "
            "the service says it holds their keys, which their entries cannot prove"
        )


def erased_but_proved(keys: CitizenKeys, tree_size: int, proofs: dict[str, bytes]) -> set[str]:
    """The erased citizens (in the leaves [0, tree_size)) whose key was proved held anyway."""
    return {
        citizen_id
        for citizen_id, citizen in keys.citizens.items()
        if citizen.erased_at is not None and citizen.erased_at < tree_size and citizen_id in proofs
    }
