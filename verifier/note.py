"""C2SP signed-note: verifier keys, note parsing and signature verification (Ed25519 only).

Follows https://c2sp.org/signed-note, the format of Go's golang.org/x/mod/sumdb/note, so a
checkpoint this accepts is one that standard tooling accepts too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verifier.canonical import b64decode_strict

ALG_ED25519 = 0x01
KEY_HASH_SIZE = 4
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
SIGNATURE_LINE_PREFIX = "\u2014 "  # an em dash and a space
_MAX_SIGNATURES = 100  # the bound Go's note.Open applies, against notes built to exhaust a verifier


class NoteError(ValueError):
    """A note is malformed or its signature does not verify; the message says which."""


def key_hash(name: str, public_key: bytes) -> bytes:
    """C2SP signed-note key ID: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(material).digest()[:KEY_HASH_SIZE]


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A note verifier key ``<name>+<8 hex key hash>+<base64(0x01 || public key)>``."""

    name: str
    key_hash: bytes
    public_key: bytes

    def verifies(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


def parse_verifier_key(vkey: str) -> NoteVerifier:
    name, plus, rest = vkey.partition("+")
    hash_hex, plus2, key_b64 = rest.partition("+")  # base64 may hold "+": keep the rest whole
    if not plus or not plus2 or not _valid_key_name(name):
        raise NoteError(f"not a note verifier key <name>+<hash>+<key>: {vkey!r}")
    try:
        claimed_hash = bytes.fromhex(hash_hex)
        key = b64decode_strict(key_b64)
    except ValueError:
        raise NoteError(f"verifier key {name!r} has a malformed hash or key") from None
    if len(hash_hex) != 2 * KEY_HASH_SIZE or len(key) != 1 + ED25519_KEY_SIZE:
        raise NoteError(f"verifier key {name!r} has a hash or key of the wrong length")
    if key[0] != ALG_ED25519:
        raise NoteError(f"verifier key {name!r} is not Ed25519 (algorithm {key[0]})")
    public_key = key[1:]
    if key_hash(name, public_key) != claimed_hash:
        raise NoteError(f"verifier key {name!r}: the key hash does not match the key")
    return NoteVerifier(name=name, key_hash=claimed_hash, public_key=public_key)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedNote:
    text: str  # ends with "\n"; the signed bytes are its UTF-8 encoding
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(ord(char) < 0x20 and char != "\n" for char in text):
        raise NoteError("note text holds a control character other than newline")


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_LINE_PREFIX):
        raise NoteError(f"signature line does not start with an em dash: {line[:40]!r}")
    name, space, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
    if not space or not _valid_key_name(name) or " " in encoded:
        raise NoteError(f"malformed signature line: {line[:60]!r}")
    try:
        raw = b64decode_strict(encoded)
    except ValueError as error:
        raise NoteError(f"signature of {name!r}: {error}") from None
    if len(raw) <= KEY_HASH_SIZE:
        raise NoteError(f"signature of {name!r} is too short")
    return NoteSignature(name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:])


def parse_note(note: str) -> SignedNote:
    """Split a note into its text and signature lines (the split is at the last blank line)."""
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    if not signature_block.endswith("\n"):
        raise NoteError("note must end with a newline after its last signature")
    lines = signature_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError("note has too many signatures")
    return SignedNote(text, tuple(_parse_signature_line(line) for line in lines))


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> tuple[str, list[str]]:
    """Verify a note; return its text and the names of the keys whose signatures verified.

    As C2SP signed-note says, signatures by unknown keys are ignored (others may co-sign, e.g.
    witnesses), a bad signature by a known key is an error, and at least one known key must sign.
    """
    parsed = parse_note(note)
    known = {(verifier.name, verifier.key_hash): verifier for verifier in verifiers}
    message = parsed.text.encode("utf-8")
    verified: list[str] = []
    for signature in parsed.signatures:
        verifier = known.get((signature.name, signature.key_hash))
        if verifier is None:
            continue
        if not verifier.verifies(message, signature.signature):
            raise NoteError(f"signature by {signature.name!r} does not verify")
        verified.append(signature.name)
    if not verified:
        names = ", ".join(sorted({signature.name for signature in parsed.signatures}))
        raise NoteError(f"not signed by a trusted key (signed by: {names or 'nobody'})")
    return parsed.text, verified
