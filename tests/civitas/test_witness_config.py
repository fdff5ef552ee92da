"""The log's witness settings: flags win over the environment, and a setting that cannot work is
refused with the setting named, before anything starts."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from civitas.config import ConfigError, build_config
from ledger.checkpoint import verifier_key_string
from witness.note import Cosigner

W1 = Cosigner("witness.test/w1", Ed25519PrivateKey.generate()).verifier_key
W2 = Cosigner("witness.test/w2", Ed25519PrivateKey.generate()).verifier_key


def test_no_witnesses_by_default() -> None:
    assert build_config(environ={}).witnesses is None


def test_flags_win_over_the_environment_and_the_threshold_defaults_to_all() -> None:
    env = {"CIVITAS_WITNESSES": f"http://a.test {W1}", "CIVITAS_WITNESS_THRESHOLD": "1"}
    from_env = build_config(environ=env).witnesses
    assert from_env is not None
    assert (from_env.vkeys, from_env.threshold) == ((W1,), 1)
    flags = build_config(
        witnesses=[("http://a.test", W1), ("https://b.test/w", W2)], environ={}
    ).witnesses
    assert flags is not None
    assert (flags.vkeys, flags.threshold) == ((W1, W2), 2)
    assert flags.witnesses[1].url == "https://b.test/w"


@pytest.mark.parametrize(
    ("witnesses", "threshold", "message"),
    [
        ([("ftp://a.test", W1)], None, "http"),
        ([("http://a.test", "witness.test/w1+00000000+AAAA")], None, "witness key"),
        ([("http://a.test", W1.replace("+", "-", 1))], None, "verifier key"),
        ([("http://a.test", W1), ("http://b.test", W1)], None, "twice"),
        ([("http://a.test", W1)], 2, "between 1 and 1"),
        ([("http://a.test", W1)], 0, "between 1 and 1"),
        ([], 1, "needs --witness"),
    ],
)
def test_a_witness_setting_that_cannot_work_is_refused(
    witnesses: list[tuple[str, str]], threshold: int | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(witnesses=witnesses, witness_threshold=threshold, environ={})


def test_an_ed25519_note_key_is_not_a_witness_key() -> None:
    """A witness's plain 0x01 note key has another key ID: its cosignatures would never match."""
    log_style = verifier_key_string("witness.test/w1", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ConfigError, match="not a cosignature/v1 key"):
        build_config(witnesses=[("http://a.test", log_style)], environ={})
