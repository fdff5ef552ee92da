"""C2SP signed-note and tlog-checkpoint as a witness reads them, and its cosignatures.

- A log's key is a note verifier key ``<name>+<8 hex key ID>+<base64(0x01 || Ed25519 key)>``.
- A cosignature (C2SP tlog-cosignature, cosignature/v1) is a note signature line whose key ID is
  SHA-256(name || "\\n" || 0x04 || public key)[:4] and whose signature is an 8-byte big-endian
  timestamp followed by Ed25519 over ``cosignature/v1\\ntime <timestamp>\\n`` and the note text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
KEY_ID_SIZE = 4
SIGNATURE_LINE_PREFIX = "\u2014 "  # an em dash and a space
MAX_SIGNATURES = 100
_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_SIZE = 2**63 - 1


class NoteError(ValueError):
    """A note, a checkpoint or a key is malformed; the message says how."""


def b64decode_strict(text: str) -> bytes:
    """Standard base64, canonical only: one value has one encoding."""
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise NoteError("not base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise NoteError("not canonical base64")
    return data


def valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def key_id(name: str, algorithm: int, public_key: bytes) -> bytes:
    material = name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True, slots=True)
class LogKey:
    """A log's checkpoint key (a plain Ed25519 note key)."""

    name: str
    key_id: bytes
    public_key: bytes

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_log_key(vkey: str) -> LogKey:
    name, _, rest = vkey.partition("+")
    hash_hex, _, encoded = rest.partition("+")
    if not valid_key_name(name) or len(hash_hex) != 8:
        raise NoteError(f"not a note verifier key <name>+<hash>+<key>: {vkey!r}")
    try:
        claimed = bytes.fromhex(hash_hex)
    except ValueError:
        raise NoteError(f"the key hash of {name!r} is not hex") from None
    material = b64decode_strict(encoded)
    if len(material) != 33 or material[0] != ALG_ED25519:
        raise NoteError(f"the key of {name!r} is not an Ed25519 note key (0x01 and 32 bytes)")
    if key_id(name, ALG_ED25519, material[1:]) != claimed:
        raise NoteError(f"the key hash of {name!r} does not match its key")
    return LogKey(name, claimed, material[1:])


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str  # the signed note text, ending with its newline


def _parse_checkpoint_text(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
        raise NoteError("a checkpoint has origin, size and root lines, none of them empty")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size) or int(size) > _MAX_SIZE:
        raise NoteError(f"the tree size {size[:30]!r} is not a decimal without leading zeros")
    root_hash = b64decode_strict(root)
    if len(root_hash) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin, int(size), root_hash, text)


def split_checkpoint_note(note: str) -> tuple[Checkpoint, list[tuple[str, bytes, bytes]]]:
    """The checkpoint and its signature lines as (name, key ID, signature)."""
    if any(c < " " and c != "\n" for c in note):
        raise NoteError("the note holds a control character")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line and signature lines")
    text, block = note[: split + 1], note[split + 2 : -1]
    lines = block.split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_LINE_PREFIX):
            raise NoteError("a signature line starts with an em dash and a space")
        name, space, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
        if not space or not valid_key_name(name):
            raise NoteError("a malformed signature line")
        raw = b64decode_strict(encoded)
        if len(raw) <= KEY_ID_SIZE:
            raise NoteError(f"the signature by {name!r} is too short")
        signatures.append((name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return _parse_checkpoint_text(text), signatures


def signed_by(
    checkpoint: Checkpoint, signatures: list[tuple[str, bytes, bytes]], keys: list[LogKey]
) -> bool:
    """True when a trusted key signed the checkpoint and no line by a trusted key is bad."""
    known = {(key.name, key.key_id): key for key in keys}
    message = checkpoint.text.encode("utf-8")
    verified = False
    for name, identifier, signature in signatures:
        key = known.get((name, identifier))
        if key is None:
            continue  # another party's signature (a witness's): not ours to judge
        if not key.verifies(message, signature):
            return False
        verified = True
    return verified


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


class Cosigner:
    """The witness's own key: signs cosignature/v1 lines."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not valid_key_name(name):
            raise NoteError(f"invalid witness name {name!r}")
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(name, ALG_COSIGNATURE_V1, self.public_key)

    @property
    def verifier_key(self) -> str:
        """``<name>+<key ID>+<base64(0x04 || public key)>``: what a log or client configures."""
        material = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def cosign(self, text: str, timestamp: int) -> str:
        """One signature line: key ID || big-endian timestamp || Ed25519 signature."""
        signature = self._private_key.sign(cosigned_message(text, timestamp))
        blob = self.key_id + struct.pack(">Q", timestamp) + signature
        return f"{SIGNATURE_LINE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"


def signer_key_string(name: str, private_key: Ed25519PrivateKey) -> str:
    """Go's note private key format, ``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>``, which
    transparency-dev's witness reads too (it derives the cosignature/v1 key ID itself)."""
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
    return f"PRIVATE+KEY+{name}+{key_id(name, ALG_ED25519, public).hex()}+{encoded}"


def parse_signer_key(text: str) -> Cosigner:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("a key file holds PRIVATE+KEY+<name>+<hash>+<key>")
    name, _, encoded = parts[2:]  # the hash is checked by rebuilding the whole string
    material = b64decode_strict(encoded)
    if len(material) != 33 or material[0] != ALG_ED25519:
        raise NoteError("the key file does not hold an Ed25519 seed")
    private_key = Ed25519PrivateKey.from_private_bytes(material[1:])
    if signer_key_string(name, private_key) != text.strip():
        raise NoteError("the key file's hash does not match its key")
    return Cosigner(name, private_key)
