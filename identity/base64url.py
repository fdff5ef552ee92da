"""Unpadded base64url (RFC 4648 §5), the one spelling JWTs (RFC 7515 §2) and WebAuthn use.

Decoding is strict everywhere: no padding, no characters outside the URL-safe alphabet, and
the unused low bits of the last character zero. Python's own decoder is lenient (it drops
unknown characters and ignores the low bits), so several strings would decode to the same
bytes; for input from the wire that would let two spellings carry one signature or name one
credential, and for values we stored ourselves (always written by `encode`) a lenient read
would only hide corruption.
"""

from __future__ import annotations

import base64
import re
from typing import Final

_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]*")


class Base64urlError(ValueError):
    """The text is not unpadded base64url in its one canonical spelling."""


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode(text: str) -> bytes:
    """The strict inverse of `encode`; raises `Base64urlError` for any other spelling."""
    # A length of 1 modulo 4 holds 6 bits: no whole byte, so no encoder writes it.
    if _ALPHABET.fullmatch(text) is None or len(text) % 4 == 1:
        raise Base64urlError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if encode(data) != text:
        raise Base64urlError("not canonical base64url")
    return data
