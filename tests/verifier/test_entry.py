"""The canonical entry: what parses, and every way of being almost canonical that must not."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.verifier.bundle_factory import canonical
from verifier.entry import EntryError, parse_entry, signed_message

FIELDS: dict[str, object] = {
    "actor": "service:tax-agency",
    "at": "2026-11-22T14:03:07.123456Z",
    "kid": "k1",
    "payload_sha256": "ab" * 32,
    "stream": "6513270e-269e-4d37-b2a7-4de452e6b438",
    "type": "identity.Citizen.TotpVerified",
    "v": 1,
    "version": 7,
}
GOOD = canonical(FIELDS)


def _with(**changes: object) -> str:
    return canonical({**FIELDS, **changes})


def test_a_canonical_entry_parses() -> None:
    entry = parse_entry(GOOD)
    assert (entry.stream, entry.version, entry.kid) == (FIELDS["stream"], 7, "k1")
    assert entry.canonical_bytes == GOOD.encode()
    assert entry.at_time.isoformat() == "2026-11-22T14:03:07.123456+00:00"


def test_the_signed_message_has_the_domain_prefix() -> None:
    assert signed_message(b"{}") == b"civitas/entry/v1\n{}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (json.dumps(FIELDS, sort_keys=True), "canonical"),  # whitespace
        (json.dumps(dict(reversed(FIELDS.items())), separators=(",", ":")), "canonical"),
        (GOOD.replace('"version":7', '"version":7.0'), "version"),
        (GOOD.replace('"version":7', '"version":7e0'), "version"),
        (GOOD.replace('"v":1', '"v":true'), "v must be"),
        (_with(v=2), "v must be"),
        (_with(version=0), "version"),
        (canonical({k: v for k, v in FIELDS.items() if k != "actor"}), "missing"),
        (_with(extra="x"), "extra"),
        (_with(actor=unicodedata.normalize("NFD", "service:état")), "NFC"),
        (_with(payload_sha256="AB" * 32), "payload_sha256"),
        (_with(at="2026-11-22 14:03:07Z"), "at must be"),
        (_with(at="2026-11-22T14:03:07+01:00"), "at must be"),
        (_with(at="2026-13-22T14:03:07Z"), "calendar"),
        (_with(kid=""), "kid"),
        (_with(stream=7), "stream"),
        (GOOD[:-1] + ',"actor":"x"}', "canonical"),  # a duplicate key: readers could disagree
        (GOOD + " ", "after its JSON"),
        (" " + GOOD, "not JSON"),
        ("[1]", "object"),
        (_with(actor="\ud800"), "surrogate"),
    ],
)
def test_almost_canonical_entries_are_refused(text: str, reason: str) -> None:
    with pytest.raises(EntryError, match=reason):
        parse_entry(text)


def test_escapes_json_allows_but_jcs_does_not_are_refused() -> None:
    with pytest.raises(EntryError, match="canonical"):
        parse_entry(GOOD.replace("tax", "t\\u0061x"))
    with pytest.raises(EntryError, match="canonical"):
        parse_entry(GOOD.replace("service:", "service\\/"))


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1).map(
    lambda text: unicodedata.normalize("NFC", text)
)


@given(actor=_text, type_=_text, version=st.integers(min_value=1, max_value=2**63))
def test_any_canonical_entry_round_trips(actor: str, type_: str, version: int) -> None:
    text = _with(actor=actor, type=type_, version=version)
    entry = parse_entry(text)
    assert (entry.actor, entry.type, entry.version) == (actor, type_, version)
