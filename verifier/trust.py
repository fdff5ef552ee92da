"""Which keys the verifier trusts: those the auditor pinned, else those the log handed over.

A keyring shipped inside the thing being verified proves only self-consistency: whoever forged the
entries could have forged the keyring too. So the report always says whether anything was pinned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from verifier.keyring import Keyring
from verifier.note import NoteVerifier, parse_verifier_key
from verifier.witnesses import WitnessPolicy


@dataclass(frozen=True, slots=True)
class Pins:
    """What the auditor obtained independently (e.g. from the log operator's website)."""

    keyring: Keyring | None = None
    checkpoint_keys: tuple[str, ...] = ()
    witnesses: WitnessPolicy | None = None  # k of n pinned witness keys must cosign


@dataclass(frozen=True, slots=True)
class Anchors:
    keyring: Keyring  # entry keys and origin in force
    verifiers: list[NoteVerifier]  # checkpoint keys in force
    notes: list[str]


def resolve(offered: Keyring, pins: Pins, source: str) -> Anchors:
    """Pick the keys in force and say in plain words how far they can be trusted."""
    keyring = pins.keyring or offered
    vkeys: Sequence[str] = pins.checkpoint_keys or keyring.checkpoint_keys
    verifiers = [parse_verifier_key(vkey) for vkey in vkeys]
    notes: list[str] = []
    if pins.keyring is None and not pins.checkpoint_keys:
        notes.append(
            f"the keys were taken from the {source} and NOT independently pinned: this proves the "
            f"{source} is self-consistent, not that it comes from the log you expect; pin the "
            "log's checkpoint key with --checkpoint-key (or --keyring) for that"
        )
    else:
        pinned = ", ".join(sorted({verifier.name for verifier in verifiers}))
        notes.append(f"checkpoint key pinned by the auditor: {pinned}")
        if pins.keyring is None:
            notes.append(
                f"entry keys were taken from the {source}: entry contents are bound by the pinned "
                "checkpoints, entry signatures only by the offered keys"
            )
        elif pins.keyring != offered:
            notes.append(
                f"the {source}'s keyring differs from the pinned one; the pinned one is used"
            )
    return Anchors(keyring=keyring, verifiers=verifiers, notes=notes)
