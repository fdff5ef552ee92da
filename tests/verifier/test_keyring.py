"""The published keyring: shapes, validity windows, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.verifier.bundle_factory import make_log
from verifier.keyring import KeyringError, keyring_from_json


def test_the_factory_keyring_parses_with_half_open_windows() -> None:
    document = make_log(4, 1, rotate_at=2).keyring()
    keyring = keyring_from_json(document)
    k1, k2 = keyring.entry_keys["k1"], keyring.entry_keys["k2"]
    rotation = k2.not_before
    assert k1.not_after == rotation
    assert not k1.valid_at(rotation)  # at the rotation instant only the new key signs
    assert k2.valid_at(rotation)
    assert k1.valid_at(datetime(2026, 11, 22, 14, 0, 1, tzinfo=UTC))
    assert keyring.checkpoint_verifiers()[0].name == "civitas-log"


def test_offsets_are_normalised_to_utc() -> None:
    document = make_log(1, 1, rotate_at=None).keyring()
    document["entry_keys"][0]["not_before"] = "2026-11-22T15:00:00+01:00"  # type: ignore[index]
    key = keyring_from_json(document).entry_keys["k1"]
    assert key.not_before == datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["entry_keys"].append(dict(d["entry_keys"][0])), "twice"),
        (lambda d: d["entry_keys"][0].update(public_key="AAAA"), "32 raw"),
        (lambda d: d["entry_keys"][0].update(not_before="2026-11-22T14:00:00"), "offset"),
        (lambda d: d["entry_keys"][0].update(not_after="2000-01-01T00:00:00Z"), "ends before"),
        (lambda d: d["checkpoint_keys"].append("nonsense"), "verifier key"),
        (lambda d: d.update(origin=""), "origin"),
        (lambda d: d.pop("entry_keys"), "entry_keys"),
    ],
)
def test_malformed_keyrings_are_refused(change: object, reason: str) -> None:
    document = make_log(4, 1, rotate_at=2).keyring()
    change(document)  # type: ignore[operator]
    with pytest.raises(KeyringError, match=reason):
        keyring_from_json(document)
