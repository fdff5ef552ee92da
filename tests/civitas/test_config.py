"""civitas/config.py: the JWT issuer and audience, and AAL3 with its attestation allow-list:
flags, then environment, then defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civitas.config import ConfigError, build_config
from civitas.node import Node
from civitas.soft_authenticator import new_attestation_model

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


def test_aal3_is_off_by_default_and_needs_an_allow_list(tmp_path: Path) -> None:
    default = build_config(environ={})
    assert (default.allow_aal3, default.attestation_roots) == (False, None)
    with pytest.raises(ConfigError, match="CIVITAS_ATTESTATION_ROOTS"):
        build_config(environ={"CIVITAS_ALLOW_AAL3": "true"})
    with pytest.raises(ConfigError, match="CIVITAS_ALLOW_AAL3 must be true or false"):
        build_config(environ={"CIVITAS_ALLOW_AAL3": "maybe"})
    roots = tmp_path / "roots.json"
    from_env = build_config(
        environ={"CIVITAS_ALLOW_AAL3": "1", "CIVITAS_ATTESTATION_ROOTS": str(roots)}
    )
    assert (from_env.allow_aal3, from_env.attestation_roots) == (True, roots)
    flags = build_config(
        allow_aal3=False, attestation_roots=str(roots), environ={"CIVITAS_ALLOW_AAL3": "1"}
    )
    assert (flags.allow_aal3, flags.attestation_roots) == (False, roots)


def test_the_node_reads_the_allow_list_and_refuses_a_bad_one(tmp_path: Path) -> None:
    model = new_attestation_model()
    roots = tmp_path / "roots.json"
    roots.write_text(json.dumps({"entries": [model.trust_list_entry()]}))
    config = build_config(
        data_dir=str(tmp_path / "data"), allow_aal3=True, attestation_roots=str(roots), environ={}
    )
    node = Node(config)
    node.initialise("civitas.test/config")
    try:
        settings = node.identity.settings
        assert settings.allow_aal3
        assert settings.attestation.roots_for(model.aaguid) == (model.root_pem,)
    finally:
        node.close()
    roots.write_text("{}")
    with pytest.raises(ConfigError, match="entries"):
        Node(config).attestation_trust  # noqa: B018


def test_call_limits_come_from_flags_then_the_environment_then_defaults() -> None:
    defaults = build_config(environ={}).call_limits
    assert (defaults.streams_per_caller, defaults.calls_per_caller) == (8, 16)
    env = {"CIVITAS_MAX_STREAMS_PER_CALLER": "3", "CIVITAS_MAX_STREAM_SECONDS": "60"}
    from_env = build_config(environ=env).call_limits
    assert (from_env.streams_per_caller, from_env.stream_lifetime_seconds) == (3, 60.0)
    flags = {"streams_per_caller": 5.0, "stream_recheck_seconds": 2.5}
    from_flags = build_config(call_limits=flags, environ=env).call_limits
    assert (from_flags.streams_per_caller, from_flags.stream_recheck_seconds) == (5, 2.5)
    assert from_flags.stream_lifetime_seconds == 60.0


@pytest.mark.parametrize(
    "flags", [{"streams_per_caller": 0.0}, {"calls_per_caller": 0.0}, {"rpc_workers": 0.0}]
)
def test_a_limit_that_would_refuse_everyone_is_refused(flags: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        build_config(call_limits=flags, environ={})
