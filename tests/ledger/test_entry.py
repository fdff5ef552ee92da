"""The canonical entry: the exact bytes every signature and leaf hash is computed over."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import (
    Entry,
    MalformedEntry,
    canonical_entry_bytes,
    format_timestamp,
    new_entry_bytes,
    nfc,
    parse_entry,
    parse_timestamp,
)
from tests.strategies import entries
from verifier.canonical import canonical_json


def test_bytes_are_stable_for_the_same_entry() -> None:
    entry = Entry(
        actor="service:tax-agency",
        at="2026-11-22T14:03:07.123456Z",
        kid="k1",
        payload_sha256="ab" * 32,
        stream="5b1e3b9c-7a44-4c1f-9f57-3d9a8f6f2b10",
        type="identity.Citizen.TotpVerified",
        version=7,
    )
    assert canonical_entry_bytes(entry) == (
        b'{"actor":"service:tax-agency","at":"2026-11-22T14:03:07.123456Z","kid":"k1",'
        b'"payload_sha256":"' + b"ab" * 32 + b'","stream":"5b1e3b9c-7a44-4c1f-9f57-3d9a8f6f2b10",'
        b'"type":"identity.Citizen.TotpVerified","v":1,"version":7}'
    )


@given(entries())
def test_fast_path_equals_the_general_jcs_serialisation(entry: Entry) -> None:
    # The general serialisation is the verifier's, written independently: writer and verifier
    # must agree on every entry's bytes.
    general = canonical_json(
        {
            "actor": entry.actor,
            "at": entry.at,
            "kid": entry.kid,
            "payload_sha256": entry.payload_sha256,
            "stream": entry.stream,
            "type": entry.type,
            "v": 1,
            "version": entry.version,
        }
    ).encode()
    assert canonical_entry_bytes(entry) == general


@given(entries())
def test_the_write_path_builds_the_same_bytes(entry: Entry) -> None:
    for _ in range(2):  # the strings escaped, then taken from the cache
        assert new_entry_bytes(*entry) == canonical_entry_bytes(entry)


@given(entries())
def test_round_trip(entry: Entry) -> None:
    assert parse_entry(canonical_entry_bytes(entry)) == entry


@settings(max_examples=50)
@given(entries(), st.sampled_from([b" ", b"\n"]), st.integers(min_value=0))
def test_non_canonical_whitespace_is_refused(entry: Entry, space: bytes, where: int) -> None:
    data = canonical_entry_bytes(entry)
    position = 1 + where % (len(data) - 1)
    spaced = data[:position] + space + data[position:]
    try:
        same_content = json.loads(spaced) == json.loads(data)
    except ValueError:  # not JSON, or a space inside a multi-byte character: not UTF-8
        same_content = False
    if same_content:  # whitespace between tokens: the same JSON, but not the signed bytes
        with pytest.raises(MalformedEntry):
            parse_entry(spaced)
        return
    try:
        parsed = parse_entry(spaced)
    except MalformedEntry:
        return
    assert parsed != entry  # a space inside a string is another (validly canonical) entry


def test_reordered_keys_and_floats_are_refused() -> None:
    with pytest.raises(MalformedEntry):
        parse_entry(
            b'{"at":"2026-11-22T14:03:07.123456Z","actor":"a","kid":"k1","payload_sha256":"",'
            b'"stream":"s","type":"t","v":1,"version":1}'
        )
    with pytest.raises(MalformedEntry):
        parse_entry(
            b'{"actor":"a","at":"2026-11-22T14:03:07.123456Z","kid":"k1","payload_sha256":"",'
            b'"stream":"s","type":"t","v":1,"version":1.0}'
        )


def test_strings_are_nfc_normalised() -> None:
    decomposed = "Zo\u0065\u0308"  # "Zoë" with a combining diaeresis
    assert nfc(decomposed) == unicodedata.normalize("NFC", decomposed) == "Zo\u00eb"


@given(st.datetimes(timezones=st.just(__import__("datetime").UTC)))
def test_timestamps_round_trip_with_six_fraction_digits(moment: object) -> None:
    text = format_timestamp(moment)  # type: ignore[arg-type]
    assert len(text) == 27
    assert parse_timestamp(text) == moment
