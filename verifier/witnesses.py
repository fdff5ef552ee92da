"""The auditor's witness policy: a checkpoint counts only with k valid cosignatures out of n
witness keys pinned by the auditor (C2SP tlog-cosignature, cosignature/v1).

A witness cosigns a tree only when it extends every tree it cosigned before for that log, so a
log (or an insider holding its database, server and key) cannot show this auditor a rolled-back
or rewritten history unless k of the witnesses collude with it.
"""

from __future__ import annotations

import hashlib
import struct
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verifier.canonical import b64decode_strict
from verifier.note import (
    ED25519_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    KEY_HASH_SIZE,
    NoteError,
    parse_note,
)
from verifier.report import Report

ALG_COSIGNATURE_V1 = 0x04
TIMESTAMP_SIZE = 8
CHECK = "witness_cosignatures"


@dataclass(frozen=True, slots=True)
class WitnessKey:
    name: str
    key_id: bytes
    public_key: bytes


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || "\\n" || 0x04 || public key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key
    return hashlib.sha256(material).digest()[:KEY_HASH_SIZE]


def parse_witness_key(vkey: str) -> WitnessKey:
    """``<name>+<8 hex key ID>+<base64(0x04 || 32-byte Ed25519 key)>``; raises NoteError."""
    name, _, rest = vkey.partition("+")
    hash_hex, _, encoded = rest.partition("+")
    if not name or "+" in name or any(c.isspace() for c in name) or len(hash_hex) != 8:
        raise NoteError(f"not a witness verifier key <name>+<hash>+<key>: {vkey!r}")
    try:
        claimed = bytes.fromhex(hash_hex)
        material = b64decode_strict(encoded)
    except ValueError:
        raise NoteError(f"witness key {name!r} has a malformed hash or key") from None
    if len(material) != 1 + ED25519_KEY_SIZE or material[0] != ALG_COSIGNATURE_V1:
        raise NoteError(f"witness key {name!r} is not a cosignature/v1 key (0x04 and 32 bytes)")
    if cosignature_key_id(name, material[1:]) != claimed:
        raise NoteError(f"witness key {name!r}: the key hash does not match the key")
    return WitnessKey(name, claimed, material[1:])


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    keys: tuple[WitnessKey, ...]
    threshold: int
    # Cosignatures older than this many seconds do not count: a log that stopped being
    # witnessed (rolled back to an earlier witnessed tree, say) is then caught by their age.
    max_age: float | None = None

    @classmethod
    def of(
        cls, vkeys: list[str], threshold: int | None, max_age: float | None = None
    ) -> WitnessPolicy:
        keys = tuple(parse_witness_key(vkey) for vkey in vkeys)
        if len({key.public_key for key in keys}) != len(keys):
            raise NoteError("a witness key is given twice: k distinct witnesses are needed")
        k = len(keys) if threshold is None else threshold
        if not 1 <= k <= len(keys):
            raise NoteError(f"the threshold must be between 1 and the {len(keys)} witness keys")
        return cls(keys, k, max_age)


def cosigners(note: str, policy: WitnessPolicy, now: float | None = None) -> list[str]:
    """The configured witnesses whose cosignature on the note verifies (and is recent enough,
    under a maximum age), each once.

    Lines by other keys are skipped; a line naming a configured witness that does not verify
    raises NoteError, as a bad signature by a known key does in C2SP signed-note.
    """
    oldest = None if policy.max_age is None else (now or time.time()) - policy.max_age
    parsed = parse_note(note)
    known = {(key.name, key.key_id): key for key in policy.keys}
    found: list[str] = []
    for line in parsed.signatures:
        key = known.get((line.name, line.key_hash))
        if key is None:
            continue
        blob = line.signature
        if len(blob) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
            raise NoteError(f"the cosignature of {key.name!r} is not a timestamp and a signature")
        (timestamp,) = struct.unpack(">Q", blob[:TIMESTAMP_SIZE])
        if timestamp >= 2**63:
            raise NoteError(f"the cosignature of {key.name!r} has an impossible timestamp")
        message = f"cosignature/v1\ntime {timestamp}\n{parsed.text}".encode()
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                blob[TIMESTAMP_SIZE:], message
            )
        except InvalidSignature:
            raise NoteError(f"the cosignature of {key.name!r} does not verify") from None
        if oldest is not None and timestamp < oldest:
            continue  # true once, but not evidence of the log as it is now
        if key.name not in found:
            found.append(key.name)
    return found


def judge(note: str, policy: WitnessPolicy | None, report: Report, where: str) -> bool:
    """Record whether the note meets the policy (nothing when no policy was asked for)."""
    if policy is None:
        return True
    check = report.check(CHECK)
    try:
        names = cosigners(note, policy)
    except NoteError as error:
        check.fail(str(error), where=where)
        return False
    if len(names) < policy.threshold:
        have = ", ".join(names) or "none"
        recent = "" if policy.max_age is None else f", at most {policy.max_age:g} s old"
        check.fail(
            f"{len(names)} of the {policy.threshold} witness cosignatures needed{recent} "
            f"(valid: {have})",
            where=where,
        )
        return False
    check.passed()
    return True
