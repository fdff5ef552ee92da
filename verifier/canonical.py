"""The canonical spellings the verifier insists on: JCS JSON and padded standard base64.

A value with two spellings lets two readers disagree about the same bytes (and lets a file change
without any check noticing), so both encodings are checked for being the one canonical form.
"""

from __future__ import annotations

import binascii
import json
import unicodedata


def b64decode_strict(text: str) -> bytes:
    """Decode RFC 4648 section 4 base64, refusing every spelling but the canonical one.

    The lenient decoder skips foreign characters and ignores padding bits (``YR==`` decodes like
    ``YQ==``), so the bytes are re-encoded and must give back the text exactly: one check that
    refuses every other spelling, and cheaper than a regular expression before decoding.
    """
    try:
        raw = binascii.a2b_base64(text)
    except (binascii.Error, ValueError) as error:  # ValueError: a non-ASCII str
        raise ValueError(f"not base64: {error}") from None
    if binascii.b2a_base64(raw, newline=False).decode("ascii") != text:
        raise ValueError("not the canonical base64 spelling")
    return raw


# One encoder for the process: json.dumps with any option builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False
)


def canonical_json(value: object) -> str:
    """RFC 8785 (JCS) serialisation for the values Civitas entries hold (ASCII keys, integers).

    Python sorts keys by code point where JCS sorts by UTF-16 unit; the two agree on the fixed
    ASCII keys of an entry, which is all this is used for. NaN and infinities raise ValueError.
    """
    return _CANONICAL.encode(value)


def is_nfc(text: str) -> bool:
    # ASCII is always NFC; the shortcut matters because nearly every field is ASCII.
    return text.isascii() or unicodedata.is_normalized("NFC", text)
