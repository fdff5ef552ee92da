"""The public keyring of docs/ledger-format.md section 5: windowed entry keys, checkpoint keys,
origin."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from verifier.canonical import b64decode_strict
from verifier.note import ED25519_KEY_SIZE, NoteError, NoteVerifier, parse_verifier_key

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


class KeyringError(ValueError):
    """The keyring does not have the published shape; the message says where."""


def parse_rfc3339(text: object, field: str) -> datetime:
    """An RFC 3339 time with an explicit offset, as an aware UTC datetime."""
    if type(text) is not str or not _RFC3339.fullmatch(text):
        raise KeyringError(f"{field} is not an RFC 3339 time with an offset: {text!r}")
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except ValueError:
        raise KeyringError(f"{field} is not a real calendar time: {text!r}") from None


@dataclass(frozen=True, slots=True)
class EntryKey:
    kid: str
    public_key: bytes  # 32 raw Ed25519 bytes
    not_before: datetime
    not_after: datetime | None  # None while the key is current

    def valid_at(self, at: datetime) -> bool:
        """The window is half-open, so at a rotation instant exactly one key is valid."""
        return self.not_before <= at and (self.not_after is None or at < self.not_after)

    def window(self) -> str:
        end = self.not_after.isoformat() if self.not_after else "now"
        return f"{self.not_before.isoformat()} until {end}"


@dataclass(frozen=True, slots=True)
class Keyring:
    entry_keys: Mapping[str, EntryKey]
    checkpoint_keys: tuple[str, ...]  # note verifier keys, as published
    origin: str

    def checkpoint_verifiers(self) -> list[NoteVerifier]:
        return [parse_verifier_key(vkey) for vkey in self.checkpoint_keys]


def _entry_key(item: object, position: int) -> EntryKey:
    where = f"entry_keys[{position}]"
    if type(item) is not dict or not {"kid", "public_key", "not_before"} <= item.keys():
        raise KeyringError(f"{where} needs kid, public_key, not_before and not_after")
    kid, public_key = item["kid"], item["public_key"]
    if type(kid) is not str or not kid:
        raise KeyringError(f"{where}.kid must be a non-empty string")
    try:
        raw = b64decode_strict(public_key) if type(public_key) is str else b""
    except ValueError:
        raw = b""
    if len(raw) != ED25519_KEY_SIZE:
        raise KeyringError(f"{where}.public_key must be base64 of 32 raw Ed25519 bytes")
    not_before = parse_rfc3339(item["not_before"], f"{where}.not_before")
    raw_not_after = item.get("not_after")
    not_after = (
        None if raw_not_after is None else parse_rfc3339(raw_not_after, f"{where}.not_after")
    )
    if not_after is not None and not_after <= not_before:
        raise KeyringError(f"{where} ends before it starts")
    return EntryKey(kid=kid, public_key=raw, not_before=not_before, not_after=not_after)


def keyring_from_json(document: object) -> Keyring:
    """Build a keyring from the keyring.json object (also embedded in receipts)."""
    if type(document) is not dict:
        raise KeyringError("keyring is not a JSON object")
    entry_items, checkpoint_keys, origin = (
        document.get("entry_keys"),
        document.get("checkpoint_keys"),
        document.get("origin"),
    )
    if type(entry_items) is not list or type(checkpoint_keys) is not list:
        raise KeyringError("keyring needs the lists entry_keys and checkpoint_keys")
    if type(origin) is not str or not origin:
        raise KeyringError("keyring needs a non-empty origin")
    entry_keys: dict[str, EntryKey] = {}
    for position, item in enumerate(entry_items):
        key = _entry_key(item, position)
        if key.kid in entry_keys:
            raise KeyringError(f"kid {key.kid!r} appears twice")
        entry_keys[key.kid] = key
    for vkey in checkpoint_keys:
        if type(vkey) is not str:
            raise KeyringError("checkpoint_keys must hold note verifier key strings")
        try:
            parse_verifier_key(vkey)
        except NoteError as error:
            raise KeyringError(str(error)) from None
    return Keyring(entry_keys=entry_keys, checkpoint_keys=tuple(checkpoint_keys), origin=origin)
