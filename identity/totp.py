"""Time-based one-time passwords (RFC 6238) through `pyotp`, and their enrolment QR codes.

Seeds are pyotp's to validate; this module fixes the parameters (SHA-1, 6 digits,
30-second steps: what every authenticator app understands), takes the time as an argument, and
returns the matched time step so that the caller can refuse a replay (RFC 6238 §5.2). A sign-in
compares three steps' codes: pyotp decodes the base32 seed again for each, so the seed is decoded
once (pyotp still validates it) and the codes computed by `_hotp`, RFC 4226's arithmetic, which
the RFC 6238 test vectors and a comparison with pyotp check.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import io
import secrets
from typing import Final

import pyotp
import segno

STEP_SECONDS: Final = 30  # RFC 6238 §5.2: 30 seconds balances security and usability
DIGITS: Final = 6
SEED_BYTES: Final = 20  # 160 bits: RFC 4226 §4 R6 requires 128, recommends 160

_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_STEP: Final = datetime.timedelta(seconds=STEP_SECONDS)


def new_totp_seed() -> str:
    """A fresh shared secret, base32 without padding (32 characters), as authenticator apps
    expect it in the ``secret`` parameter of the key URI."""
    return base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode("ascii")


def provisioning_uri(seed: str, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/Issuer:account?secret=...&issuer=...`` key URI.

    The URI contains the seed: show it once (as a QR code) and never log it.
    """
    return _totp(seed).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The key URI as a standalone SVG document, for web pages."""
    buffer = io.BytesIO()
    _qr(uri).save(buffer, kind="svg", scale=4, border=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def qr_png(uri: str) -> bytes:
    """The key URI as a PNG image, for clients that cannot show SVG."""
    buffer = io.BytesIO()
    _qr(uri).save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def time_step(moment: datetime.datetime) -> int:
    """RFC 6238 §4.2: T = floor((unix time - T0) / X) with T0 = 0 and X = 30 seconds."""
    if moment.tzinfo is None:
        raise ValueError("time_step needs a timezone-aware datetime")
    # timedelta floor division is exact integer arithmetic, unlike dividing a float timestamp.
    return (moment - _EPOCH) // _STEP


def totp_code(seed: str, step: int, digits: int = DIGITS) -> str:
    """The code of time step *step* (RFC 4226 §5.3 HOTP with the step as counter)."""
    return _hotp(_totp(seed).byte_secret(), step, digits)


def matching_step(seed: str, code: str, moment: datetime.datetime, window: int = 1) -> int | None:
    """The time step within ±*window* of *moment* whose code is *code*, else None.

    RFC 6238 §5.2 allows one step either side for clock drift and transmission delay. Every
    candidate is compared in constant time, and all of them are compared, so timing does not tell
    which step matched. A malformed code (anything but exactly six ASCII digits) is None, never an
    exception. The caller must accept each returned step at most once per authenticator
    (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the OTP").
    """
    if window < 0:
        raise ValueError("window must not be negative")
    now = time_step(moment)
    # Checked here rather than left to pyotp: its comparison NFKC-normalises, which would let
    # full-width or other non-ASCII digits through.
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    offered = code.encode("ascii")
    key = _totp(seed).byte_secret()
    matched: int | None = None
    # Nearest steps first (t, t-1, t+1, ...) so that in the one-in-a-million case of two equal
    # codes the one closest to the verifier's clock wins.
    for offset in sorted(range(-window, window + 1), key=lambda o: (abs(o), o)):
        step = now + offset
        if step < 0:
            continue
        expected = _hotp(key, step).encode("ascii")
        if hmac.compare_digest(offered, expected) and matched is None:
            matched = step
    return matched


def _hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 §5.3: HMAC-SHA-1 of the 8-byte counter, dynamically truncated to *digits*."""
    digest = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    binary = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def _totp(seed: str, digits: int = DIGITS) -> pyotp.TOTP:
    # pyotp validates the seed (base32, at least 112 bits); its messages never contain the seed.
    return pyotp.TOTP(seed, digits=digits, interval=STEP_SECONDS)


def _qr(uri: str) -> segno.QRCode:
    # Error correction "M" (15 %) is what authenticator-app enrolment screens commonly use; a key
    # URI fits comfortably, so segno's boost_error may still raise it.
    return segno.make(uri, error="m", micro=False)
