"""Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-notes, signed with Ed25519.

docs/ledger-format.md section 4 fixes the bytes, so that standard tooling (Go's
``golang.org/x/mod/sumdb/note``, transparency-dev witnesses) verifies Civitas checkpoints unchanged:

    <origin>\\n<tree size>\\n<base64 root hash>\\n[extension lines]\\n— <key name> <base64 sig>\\n

Parsing is strict where the standards leave room (canonical base64, no leading zeros), so that one
checkpoint has exactly one encoding and a changed byte can never still verify as the same note.
Keys stay behind `NoteSigner` and `NoteVerifier`; raw key bytes do not travel through signatures.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# C2SP signed-note, "Signature types": 0x01 is Ed25519.
ALG_ED25519 = 0x01
KEY_HASH_SIZE = 4
ED25519_SIGNATURE_SIZE = 64
ROOT_HASH_SIZE = 32
# C2SP signed-note, "Format": em dash (U+2014) and a space open each signature line.
SIGNATURE_LINE_PREFIX = "\u2014 "
# The spec asks verifiers to cap signatures but accept at least 16; Go's note.Open allows 100.
MAX_SIGNATURES = 100
_PRIVATE_KEY_PREFIX = ("PRIVATE", "KEY")
_KEY_HASH_HEX = re.compile(r"[0-9a-fA-F]{8}")
# C2SP tlog-checkpoint, "Note text": ASCII decimal with no leading zeroes ("0" for the empty tree).
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_TREE_SIZE = 2**64 - 1

_Key = TypeVar("_Key", Ed25519PrivateKey, Ed25519PublicKey)


class NoteError(ValueError):
    """A signed note is malformed, or no signature by a known key verifies."""


class CheckpointError(ValueError):
    """A checkpoint body is not a valid C2SP tlog-checkpoint."""


# --- keys (C2SP signed-note, "Signatures" and "Ed25519 signatures") ------------------------------


def is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space, no "+" (C2SP signed-note, "Format").

    Control characters are refused as well: the note that carried them could never be opened.
    """
    return (
        name != ""
        and "+" not in name
        and not any(char.isspace() or char < " " for char in name)
        and _is_utf8_encodable(name)
    )


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4], the note key ID."""
    encoded = bytes([ALG_ED25519]) + _raw_public_key(public_key)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + encoded).digest()[:KEY_HASH_SIZE]


def verifier_key_string(name: str, public_key: Ed25519PublicKey) -> str:
    """``<name>+<8 hex key hash>+<base64(0x01 || public key)>``, Go's note verifier key."""
    if not is_valid_key_name(name):
        raise ValueError(f"invalid note key name {name!r}")
    encoded = base64.b64encode(bytes([ALG_ED25519]) + _raw_public_key(public_key)).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


class VerifierKey(NamedTuple):
    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse and check a verifier key string; raises ValueError."""
    # The name holds no "+", so the first two "+" split; base64 may contain "+" after them.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ValueError("a verifier key is <name>+<hash>+<key>")
    name, hash_hex, encoded = parts
    public_key = _ed25519_key_material(name, hash_hex, encoded, Ed25519PublicKey.from_public_bytes)
    parsed = VerifierKey(name, bytes.fromhex(hash_hex), public_key)
    if key_hash(name, public_key) != parsed.key_hash:
        raise ValueError("the verifier key's hash does not match its name and public key")
    return parsed


def _ed25519_key_material(
    name: str, hash_hex: str, encoded: str, load: Callable[[bytes], _Key]
) -> _Key:
    """Check the name, hash syntax and key encoding shared by verifier and signer key strings."""
    if not is_valid_key_name(name):
        raise ValueError(f"invalid note key name {name!r}")
    if not _KEY_HASH_HEX.fullmatch(hash_hex):
        raise ValueError("a note key hash is 8 hex digits")
    try:
        material = decode_base64(encoded)
    except ValueError:
        raise ValueError("the key is not canonical base64") from None
    if len(material) != 33 or material[0] != ALG_ED25519:
        raise ValueError("only Ed25519 keys (0x01 followed by 32 bytes) are supported")
    return load(material[1:])


class NoteVerifier:
    """Verifies note signatures by one Ed25519 key, built from its verifier key string."""

    def __init__(self, verifier_key: str) -> None:
        self._key = parse_verifier_key(verifier_key)
        self.key_string = verifier_key

    @property
    def name(self) -> str:
        return self._key.name

    @property
    def key_hash(self) -> bytes:
        return self._key.key_hash

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"NoteVerifier({self.key_string!r})"


class NoteSigner:
    """Signs notes with one Ed25519 key under one key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not is_valid_key_name(name):
            raise ValueError(f"invalid note key name {name!r}")
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_hash = key_hash(name, self.public_key)
        self.verifier_key = verifier_key_string(name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.verifier_key)

    def __repr__(self) -> str:
        return f"NoteSigner({self.verifier_key!r})"


def parse_signer_key(text: str) -> NoteSigner:
    """Parse Go's ``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>``; raises ValueError."""
    parts = text.split("+", 4)
    if len(parts) != 5 or tuple(parts[:2]) != _PRIVATE_KEY_PREFIX:
        raise ValueError("a signer key is PRIVATE+KEY+<name>+<hash>+<key>")
    _, _, name, hash_hex, encoded = parts
    private_key = _ed25519_key_material(
        name, hash_hex, encoded, Ed25519PrivateKey.from_private_bytes
    )
    signer = NoteSigner(name, private_key)
    if signer.key_hash != bytes.fromhex(hash_hex):
        raise ValueError("the signer key's hash does not match its name and public key")
    return signer


# --- signed notes (C2SP signed-note, "Format") ---------------------------------------------------


def decode_base64(text: str) -> bytes:
    """Standard base64 (RFC 4648 §4), canonical only: one value, one encoding."""
    data = base64.b64decode(text, validate=True)  # ValueError (binascii.Error) when malformed
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return data


def _check_note_characters(text: str) -> None:
    if not _is_utf8_encodable(text):
        raise NoteError("a note must be valid UTF-8")
    if any(char < " " and char != "\n" for char in text):
        raise NoteError("a note must not contain control characters other than newline")


def sign_note(text: str, *signers: NoteSigner) -> str:
    """``text``, a blank line, and one signature line per signer over the UTF-8 text."""
    if not signers:
        raise NoteError("a signed note needs at least one signer")
    if not text.endswith("\n"):
        raise NoteError("a note text must end with a newline")
    _check_note_characters(text)
    if len({(signer.name, signer.key_hash) for signer in signers}) != len(signers):
        raise NoteError("two signers share a key name and hash")
    message = text.encode("utf-8")
    lines = [
        f"{SIGNATURE_LINE_PREFIX}{signer.name} "
        f"{base64.b64encode(signer.key_hash + signer.sign(message)).decode('ascii')}\n"
        for signer in signers
    ]
    return text + "\n" + "".join(lines)


class OpenedNote(NamedTuple):
    text: str
    key_names: list[str]


class _SignatureLine(NamedTuple):
    name: str
    key_hash: bytes
    signature: bytes


def _split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines): the text ends before the last blank line."""
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a signed note needs a blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        raise NoteError("a signed note ends with a signature line and a newline")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return text, lines


def _parse_signature_line(line: str) -> _SignatureLine:
    if not line.startswith(SIGNATURE_LINE_PREFIX):
        raise NoteError("a signature line starts with an em dash and a space")
    name, _, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name):
        raise NoteError(f"invalid key name in signature line: {name!r}")
    try:
        signature = decode_base64(encoded)
    except ValueError:
        raise NoteError(f"the signature by {name} is not canonical base64") from None
    if len(signature) <= KEY_HASH_SIZE:
        raise NoteError(f"the signature by {name} is too short")
    return _SignatureLine(name, signature[:KEY_HASH_SIZE], signature[KEY_HASH_SIZE:])


def _index_verifiers(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_hash)
        if key in known and known[key].key_string != verifier.key_string:
            raise ValueError(f"two verifier keys named {verifier.name} share a key hash")
        known[key] = verifier
    return known


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Check a signed note and return its text and the names of the keys that signed it.

    Per C2SP signed-note, "Signatures": lines by unknown keys (name and hash not both known) are
    skipped; every line by a known key must verify (a failing one rejects the note, including a
    repeated line, which Go would skip); and at least one known key must have signed.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("a note must be valid UTF-8") from None
    _check_note_characters(note)
    text, lines = _split_note(note)
    known = _index_verifiers(verifiers)
    message = text.encode("utf-8")
    names: list[str] = []
    for line in lines:
        parsed = _parse_signature_line(line)
        verifier = known.get((parsed.name, parsed.key_hash))
        if verifier is None:
            continue
        if not verifier.verify(message, parsed.signature):
            raise NoteError(f"the signature by {parsed.name} does not verify")
        if parsed.name not in names:
            names.append(parsed.name)
    if not names:
        raise NoteError("no signature by a known key")
    return OpenedNote(text, names)


# --- checkpoints (C2SP tlog-checkpoint, "Note text") ---------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed tree head: origin, tree size and RFC 6962 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extension_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extension_lines):
            # Each is one non-empty line; control characters would make the note unopenable.
            if line == "" or any(char < " " for char in line) or not _is_utf8_encodable(line):
                raise CheckpointError(f"invalid checkpoint line {line!r}")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} out of range")
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise CheckpointError(f"a root hash is {ROOT_HASH_SIZE} bytes")


def format_checkpoint_text(checkpoint: Checkpoint) -> str:
    """The note text: ``<origin>\\n<size>\\n<base64 root>\\n`` and any extension lines."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        base64.b64encode(checkpoint.root_hash).decode("ascii"),
        *checkpoint.extension_lines,
    ]
    return "".join(f"{line}\n" for line in lines)


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly; raises `CheckpointError`."""
    if not text.endswith("\n"):
        raise CheckpointError("a checkpoint text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has an origin, a tree size and a root hash")
    origin, size, root_hash, *extension_lines = lines
    if not _TREE_SIZE.fullmatch(size):
        raise CheckpointError(f"tree size {size!r} is not decimal without leading zeros")
    try:
        root = decode_base64(root_hash)
    except ValueError:
        raise CheckpointError("the root hash is not canonical base64") from None
    return Checkpoint(origin, int(size), root, tuple(extension_lines))


def sign_checkpoint(checkpoint: Checkpoint, *signers: NoteSigner) -> str:
    """The signed checkpoint note, as published and stored (``checkpoints/<size>.txt``)."""
    return sign_note(format_checkpoint_text(checkpoint), *signers)


def open_checkpoint(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; raises `NoteError` or `CheckpointError`."""
    return parse_checkpoint_text(open_note(note, verifiers).text)
