"""The ledger entry of docs/ledger-format.md sections 1 and 2: its canonical form, fields and
signed message."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from json.scanner import make_scanner
from typing import Any, cast

from verifier.canonical import canonical_json, is_nfc

ENTRY_KEYS = frozenset({"actor", "at", "kid", "payload_sha256", "stream", "type", "v", "version"})
ENTRY_FORMAT_VERSION = 1
# Domain separation: an entry signature can never be replayed as a signature of anything else.
SIGNING_CONTEXT = b"civitas/entry/v1\n"

# RFC 3339 in UTC with a literal Z; the writer emits microseconds, fewer digits are unambiguous too.
_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TEXT_FIELDS = ("actor", "kid", "stream", "type")
# The decoder's scanner without json.loads' whitespace handling: a canonical entry has none, and
# this runs once per entry (measured: about 2 us less per entry than json.loads).
_scan_json = make_scanner(cast("Any", json.JSONDecoder()))  # typeshed wants its own type


class EntryError(ValueError):
    """The entry is not in the canonical form docs/ledger-format.md section 1 fixes; the message
    says how."""


@dataclass(frozen=True, slots=True)
class Entry:
    actor: str
    at: str
    at_time: datetime
    kid: str
    payload_sha256: str
    stream: str
    type: str
    version: int
    canonical_bytes: bytes


def signed_message(canonical_bytes: bytes) -> bytes:
    """The exact bytes an entry's Ed25519 signature covers."""
    return SIGNING_CONTEXT + canonical_bytes


def _check_fields(fields: dict[str, object]) -> None:
    if fields.keys() != ENTRY_KEYS:
        missing = sorted(ENTRY_KEYS - fields.keys())
        extra = sorted(fields.keys() - ENTRY_KEYS)
        raise EntryError(f"keys differ from the entry format: missing {missing}, extra {extra}")
    for name in _TEXT_FIELDS:
        value = fields[name]
        if type(value) is not str or not value:
            raise EntryError(f"{name} must be a non-empty string")
        if not is_nfc(value):
            raise EntryError(f"{name} is not NFC-normalised")
    # `type(...) is int` because bool is a subclass of int, and JSON true is not a version.
    v, version = fields["v"], fields["version"]
    if type(v) is not int or v != ENTRY_FORMAT_VERSION:
        raise EntryError(f"v must be the integer {ENTRY_FORMAT_VERSION}, not {v!r}")
    if type(version) is not int or version < 1:
        raise EntryError(f"version must be an integer from 1, not {version!r}")
    digest = fields["payload_sha256"]
    if type(digest) is not str or not _SHA256_HEX.fullmatch(digest):
        raise EntryError("payload_sha256 must be 64 lowercase hex digits")


def _parse_at(value: object) -> datetime:
    if type(value) is not str or not _AT.fullmatch(value):
        raise EntryError(
            f"at must be an RFC 3339 UTC time like 2026-11-22T14:03:07.123456Z: {value!r}"
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise EntryError(f"at is not a real calendar time: {value}") from None


def parse_entry(text: str) -> Entry:
    """Parse an entry and prove it canonical: re-serialising it must give back the same text.

    The round trip catches in one comparison whitespace, key order, escapes, duplicate keys and
    number spellings (1.0, 1e0) that JSON would otherwise accept silently.
    """
    try:
        canonical_bytes = text.encode("utf-8")
        fields, end = _scan_json(text, 0)
    except UnicodeEncodeError:
        raise EntryError("entry holds a lone surrogate, which UTF-8 cannot carry") from None
    except (ValueError, StopIteration) as error:
        raise EntryError(f"entry is not JSON: {error!r}") from None
    if end != len(text):
        raise EntryError("entry has data after its JSON object")
    if type(fields) is not dict:
        raise EntryError("entry is not a JSON object")
    _check_fields(fields)
    at_time = _parse_at(fields["at"])
    if canonical_json(fields) != text:
        raise EntryError("entry is not in canonical JSON form (RFC 8785)")
    return Entry(
        actor=fields["actor"],
        at=fields["at"],
        at_time=at_time,
        kid=fields["kid"],
        payload_sha256=fields["payload_sha256"],
        stream=fields["stream"],
        type=fields["type"],
        version=fields["version"],
        canonical_bytes=canonical_bytes,
    )
