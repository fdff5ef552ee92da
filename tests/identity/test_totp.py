"""Tests for identity.totp: RFC 6238 Appendix B vectors, the ±1 step window, enrolment URIs."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.totp import (
    DIGITS,
    STEP_SECONDS,
    matching_step,
    new_totp_seed,
    provisioning_uri,
    qr_png,
    qr_svg,
    time_step,
    totp_code,
)

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
RFC6238_SEED = base64.b32encode(b"12345678901234567890").decode("ascii")
# (Unix time, T as in the table's hex column, 8-digit TOTP)
RFC6238_SHA1 = [
    (59, 0x0000000000000001, "94287082"),
    (1111111109, 0x00000000023523EC, "07081804"),
    (1111111111, 0x00000000023523ED, "14050471"),
    (1234567890, 0x000000000273EF07, "89005924"),
    (2000000000, 0x0000000003F940AA, "69279037"),
    (20000000000, 0x0000000027BC86AA, "65353130"),
]

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits
MOMENT = datetime(2026, 11, 23, 9, 0, 10, tzinfo=UTC)  # 10 s into its step
STEP = timedelta(seconds=STEP_SECONDS)


@pytest.mark.parametrize(("unix_time", "counter", "code"), RFC6238_SHA1)
def test_rfc6238_appendix_b_sha1(unix_time: int, counter: int, code: str) -> None:
    moment = datetime.fromtimestamp(unix_time, UTC)
    assert time_step(moment) == counter
    assert totp_code(RFC6238_SEED, counter, digits=8) == code
    # The library's own clock arithmetic agrees with ours.
    assert pyotp.TOTP(RFC6238_SEED, digits=8).at(moment) == code


@given(st.binary(min_size=14, max_size=40), st.integers(min_value=0, max_value=2**40))
def test_codes_are_pyotps(seed: bytes, step: int) -> None:
    """The HOTP arithmetic here (RFC 4226 §5.3) gives the codes pyotp gives, whatever the seed."""
    encoded = base64.b32encode(seed).decode("ascii")
    assert totp_code(encoded, step) == pyotp.TOTP(encoded).generate_otp(step)


def test_time_step_boundaries() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert time_step(epoch) == 0
    assert time_step(epoch + timedelta(seconds=29, microseconds=999_999)) == 0
    assert time_step(epoch + STEP) == 1
    assert time_step(epoch - timedelta(microseconds=1)) == -1  # floor, not truncation
    tallinn_winter = timezone(timedelta(hours=2))
    assert time_step(MOMENT.astimezone(tallinn_winter)) == time_step(MOMENT)


def test_time_step_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone"):
        time_step(datetime(2026, 11, 23, 9, 0))


def test_new_seed_is_160_random_bits_in_base32() -> None:
    seeds = {new_totp_seed() for _ in range(20)}
    assert len(seeds) == 20
    for seed in seeds:
        assert re.fullmatch(r"[A-Z2-7]{32}", seed)
        assert len(base64.b32decode(seed)) == 20


def test_provisioning_uri_follows_the_key_uri_format() -> None:
    uri = provisioning_uri(SEED, "maarja@example.test", "Civitas e-Services")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth"
    assert parsed.netloc == "totp"
    assert unquote(parsed.path) == "/Civitas e-Services:maarja@example.test"
    query = parse_qs(parsed.query)
    assert query == {"secret": [SEED], "issuer": ["Civitas e-Services"]}
    # Defaults (SHA1, 6 digits, 30 s) are left out, as authenticator apps expect.
    parsed_back = pyotp.parse_uri(uri)
    assert isinstance(parsed_back, pyotp.TOTP)
    assert parsed_back.at(MOMENT) == totp_code(SEED, time_step(MOMENT))


def test_qr_svg_is_an_svg_document() -> None:
    uri = provisioning_uri(SEED, "citizen-1", "Civitas")
    svg = qr_svg(uri)
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    assert qr_svg(uri) == svg
    assert qr_svg(provisioning_uri(new_totp_seed(), "citizen-1", "Civitas")) != svg


def test_qr_png_is_a_png_image() -> None:
    uri = provisioning_uri(SEED, "citizen-1", "Civitas")
    png = qr_png(uri)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height >= 4 * (25 + 8)  # at least version 2 at scale 4 with its quiet zone
    assert (
        zlib.crc32(png[12 : 16 + length]) == struct.unpack(">I", png[16 + length : 20 + length])[0]
    )


# --- matching ---------------------------------------------------------------------------------


def _code(offset: int) -> str:
    """The code of the step *offset* steps from MOMENT's, straight from pyotp."""
    return pyotp.TOTP(SEED).at(MOMENT + offset * STEP)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_within_one_step_match_and_name_their_step(offset: int) -> None:
    assert matching_step(SEED, _code(offset), MOMENT) == time_step(MOMENT) + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_two_steps_away_do_not_match(offset: int) -> None:
    code = _code(offset)
    if code in {_code(-1), _code(0), _code(1)}:  # a one-in-a-million coincidence
        pytest.skip("code collides with a neighbouring step")
    assert matching_step(SEED, code, MOMENT) is None


def test_window_is_configurable() -> None:
    assert matching_step(SEED, _code(-1), MOMENT, window=0) is None
    assert matching_step(SEED, _code(0), MOMENT, window=0) == time_step(MOMENT)
    assert matching_step(SEED, _code(-2), MOMENT, window=2) == time_step(MOMENT) - 2
    with pytest.raises(ValueError, match="window"):
        matching_step(SEED, _code(0), MOMENT, window=-1)


def test_no_negative_steps_near_the_epoch() -> None:
    start = datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert matching_step(SEED, totp_code(SEED, 0), start) == 0
    assert matching_step(SEED, totp_code(SEED, 1), start) == 1


@pytest.mark.parametrize(
    "transform",
    [
        lambda code: code + "\n",
        lambda code: " " + code,
        lambda code: code[:3] + " " + code[3:],
        lambda code: code + "0",
        lambda code: code[:-1],
        # Full-width digits: pyotp's own comparison NFKC-normalises and would accept them.
        lambda code: code.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}),
        lambda code: code.translate({ord(d): 0x0660 + int(d) for d in "0123456789"}),  # Arabic
    ],
)
def test_malformed_variants_of_the_right_code_do_not_match(transform: Callable[[str], str]) -> None:
    code = _code(0)
    assert matching_step(SEED, code, MOMENT) is not None
    assert matching_step(SEED, transform(code), MOMENT) is None


@given(st.text(max_size=20).filter(lambda s: re.fullmatch(r"[0-9]{6}", s) is None))
def test_malformed_codes_return_none(code: str) -> None:
    assert matching_step(SEED, code, MOMENT) is None


@given(st.from_regex(r"[0-9]{6}", fullmatch=True), st.integers(min_value=0, max_value=2**33))
def test_a_matched_step_is_near_and_has_that_code(code: str, seconds: int) -> None:
    moment = datetime.fromtimestamp(seconds, UTC)
    step = matching_step(SEED, code, moment)
    assert len(code) == DIGITS
    if step is not None:
        assert abs(step - time_step(moment)) <= 1
        assert totp_code(SEED, step) == code
