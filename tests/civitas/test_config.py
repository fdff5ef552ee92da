"""civitas/config.py: the JWT issuer and audience: flags, then environment, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from civitas.config import ConfigError, build_config
from civitas.node import Node

ENV = {
    "CIVITAS_TOKEN_ISSUER": "https://id.gov.example",
    "CIVITAS_TOKEN_AUDIENCE": "https://portal.gov.example",
}


def test_token_claims_come_from_flags_then_the_environment_then_defaults() -> None:
    default = build_config(environ={})
    assert (default.token_issuer, default.token_audience) == ("civitas", "civitas")
    from_env = build_config(environ=ENV)
    assert (from_env.token_issuer, from_env.token_audience) == (
        "https://id.gov.example",
        "https://portal.gov.example",
    )
    flags = build_config(token_issuer="urn:civitas:test", token_audience="counter", environ=ENV)
    assert (flags.token_issuer, flags.token_audience) == ("urn:civitas:test", "counter")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CIVITAS_TOKEN_ISSUER", " https://id.gov.example"),
        ("CIVITAS_TOKEN_ISSUER", "https://id.gov.example\n"),
        ("CIVITAS_TOKEN_AUDIENCE", "portal\x00"),
        ("CIVITAS_TOKEN_AUDIENCE", "p" * 257),
    ],
)
def test_a_claim_value_a_relying_service_could_not_match_is_refused(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        build_config(environ={variable: value})


def test_the_node_signs_with_the_configured_claims(tmp_path: Path) -> None:
    node = Node(build_config(data_dir=str(tmp_path / "data"), environ=ENV))
    node.initialise("civitas.test/config")
    try:
        settings = node.identity.settings
        assert (settings.token_issuer, settings.token_audience) == (
            "https://id.gov.example",
            "https://portal.gov.example",
        )
    finally:
        node.close()
