"""The one base64url codec: every byte string round-trips, and only its one spelling decodes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.base64url import Base64urlError, decode, encode

URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _lenient(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    text = encode(data)
    assert set(text) <= set(URL_SAFE)  # no padding, no "+" or "/"
    assert decode(text) == data


@given(st.text(alphabet=URL_SAFE, max_size=40))
def test_only_the_canonical_spelling_decodes(text: str) -> None:
    try:
        data = decode(text)
    except Base64urlError:
        # Refused: an impossible length, or low bits that no encoder sets.
        assert len(text) % 4 == 1 or encode(_lenient(text)) != text
    else:
        assert encode(data) == text


@given(st.binary(min_size=1, max_size=60))
def test_padding_is_refused(data: bytes) -> None:
    padded = base64.urlsafe_b64encode(data).decode("ascii")
    if padded.endswith("="):
        with pytest.raises(Base64urlError):
            decode(padded)


@given(st.binary(max_size=60), st.sampled_from("+/= \n.é\x00"), st.integers(min_value=0))
def test_characters_outside_the_alphabet_are_refused(
    data: bytes, character: str, position: int
) -> None:
    text = encode(data)
    at = position % (len(text) + 1)
    with pytest.raises(Base64urlError):
        decode(text[:at] + character + text[at:])


@pytest.mark.parametrize(
    "text", ["QQ==", "QQ=", "Q", "QR", "a+b/", "a b", "QUJD\n", "é", "QUJDRA=="]
)
def test_known_refusals(text: str) -> None:
    with pytest.raises(Base64urlError):
        decode(text)


def test_rfc4648_vectors() -> None:
    # RFC 4648 §10, unpadded.
    vectors = {b"": "", b"f": "Zg", b"fo": "Zm8", b"foo": "Zm9v", b"foob": "Zm9vYg"}
    for data, text in vectors.items():
        assert encode(data) == text
        assert decode(text) == data
    assert encode(b"\xfb\xff") == "-_8"  # the URL-safe alphabet's last two symbols
