"""The ledger entry: the canonical bytes every auditor verifies (docs/ledger-format.md sections 1
to 3).

An entry is canonical JSON in the RFC 8785 (JCS) form. Its keys are fixed and ASCII, its values
are ASCII-safe strings and one integer, so `json.dumps` with sorted keys and no whitespace already
yields the JCS bytes; `canonical_entry_bytes` builds the same bytes by hand, and `new_entry_bytes`
builds them on the write path of every event (measured in benchmarks/append.py).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

ENTRY_FORMAT_VERSION = 1
SIGNATURE_CONTEXT = b"civitas/entry/v1\n"
# C2SP tlog-tiles entry bundles give each entry a big-endian uint16 length (ledger/tiles.py), so
# no entry is signed longer. Real entries are a few hundred bytes: only a huge actor could reach it.
MAX_ENTRY_BYTES = 0xFFFF
ENTRY_KEYS = ("actor", "at", "kid", "payload_sha256", "stream", "type", "v", "version")

_encode_string = json.encoder.encode_basestring


class MalformedEntry(ValueError):
    """The bytes are not a canonical ledger entry."""


class Entry(NamedTuple):
    """A named tuple rather than a dataclass: built for every event read, and cheaper so."""

    actor: str
    at: str
    kid: str
    payload_sha256: str
    stream: str
    type: str
    version: int

    def canonical_bytes(self) -> bytes:
        return canonical_entry_bytes(self)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly six fraction digits, so every entry's `at` sorts as text."""
    if moment.tzinfo is not UTC:  # the common case, `eventsourcing`'s own clock, skips this
        if moment.tzinfo is None:
            raise ValueError("timestamps in the ledger must be timezone-aware")
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(text: str) -> datetime:
    if not text.endswith("Z") or len(text) != 27:
        raise MalformedEntry(f"timestamp {text!r} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise MalformedEntry(f"timestamp {text!r}: {error}") from None


def nfc(text: str) -> str:
    """docs/ledger-format.md section 1 fixes NFC: two renderings of one name must not give two
    different entries."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def canonical_entry_bytes(entry: Entry) -> bytes:
    """The JCS serialisation of `entry` (keys in sorted order, no whitespace, UTF-8)."""
    text = (
        f'{{"actor":{_encode_string(entry.actor)},"at":{_encode_string(entry.at)},'
        f'"kid":{_encode_string(entry.kid)},"payload_sha256":{_encode_string(entry.payload_sha256)},'
        f'"stream":{_encode_string(entry.stream)},"type":{_encode_string(entry.type)},'
        f'"v":{ENTRY_FORMAT_VERSION},"version":{entry.version}}}'
    )
    return text.encode("utf-8")


# Actors, key ids and event types repeat from one event to the next: each is escaped once.
# (Citizens are actors too, so there can be millions: the cache is bounded.)
_quoted = lru_cache(maxsize=4096)(_encode_string)


def new_entry_bytes(
    actor: str, at: str, kid: str, payload_sha256: str, stream: str, type_: str, version: int
) -> bytes:
    """`canonical_entry_bytes` for the write path, where it runs once for every event stored.

    `at`, `payload_sha256` and `stream` are made by the writer itself (a formatted timestamp,
    hex digits, a UUID), so they never need escaping. Tests check that both give the same bytes.
    """
    return (
        f'{{"actor":{_quoted(actor)},"at":"{at}","kid":{_quoted(kid)},'
        f'"payload_sha256":"{payload_sha256}","stream":"{stream}","type":{_quoted(type_)},'
        f'"v":{ENTRY_FORMAT_VERSION},"version":{version}}}'
    ).encode()


def parse_entry(data: bytes) -> Entry:
    """Parse and check that `data` is exactly the canonical form of an entry."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEntry(f"not JSON: {error}") from None
    if not isinstance(obj, dict) or tuple(sorted(obj)) != ENTRY_KEYS:
        raise MalformedEntry(f"an entry has exactly the keys {', '.join(ENTRY_KEYS)}")
    if obj["v"] != ENTRY_FORMAT_VERSION:
        raise MalformedEntry(f"unknown entry format version {obj['v']!r}")
    if not all(isinstance(obj[key], str) for key in ENTRY_KEYS if key not in ("v", "version")):
        raise MalformedEntry("entry fields other than v and version are strings")
    if type(obj["version"]) is not int or obj["version"] < 1:
        raise MalformedEntry("version is a positive integer")
    entry = Entry(
        actor=obj["actor"],
        at=obj["at"],
        kid=obj["kid"],
        payload_sha256=obj["payload_sha256"],
        stream=obj["stream"],
        type=obj["type"],
        version=obj["version"],
    )
    if canonical_entry_bytes(entry) != data:
        raise MalformedEntry("entry bytes are not in canonical form")
    return entry
