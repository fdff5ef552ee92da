"""deploy/docker-compose.yml: PostgreSQL, a one-shot migration, two replicas on the shared keys."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from civitas.cli import _parser as civitas_parser
from tests.conftest import REPO_ROOT
from tests.deploy import yaml_subset

DEPLOY = REPO_ROOT / "deploy"
DATA = "/var/lib/civitas"  # the image's CIVITAS_DATA and VOLUME (tests/deploy/test_dockerfile.py)
TLS = "/etc/civitas/tls"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml_subset.load((DEPLOY / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def replicas(services: dict[str, Any]) -> dict[str, Any]:
    return {
        name: service
        for name, service in services.items()
        if service.get("command", [None])[0] == "serve"
    }


def cli(command: list[str]) -> argparse.Namespace:
    """The real CLI's reading of a service's command (a typo in a flag fails here)."""
    return civitas_parser().parse_args(command)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> source."""
    return {entry.split(":")[1]: entry.split(":")[0] for entry in service.get("volumes", [])}


def test_postgres_is_checked_before_anything_uses_it(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    # The password comes from the operator's .env, never from this file.
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "ports" not in postgres  # reachable by the services only


def test_a_one_shot_service_upgrades_the_schema_and_makes_the_keys(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    cli(migrate["command"])
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    assert migrate["environment"]["CIVITAS_DATABASE"].startswith("postgresql://")
    assert "@postgres:5432/" in migrate["environment"]["CIVITAS_DATABASE"]
    assert mounts(migrate)[DATA] == "civitas-data"


def test_two_replicas_serve_after_the_migration_on_the_same_keys(
    services: dict[str, Any],
) -> None:
    servers = replicas(services)
    assert len(servers) == 2
    published: list[str] = []
    for service in servers.values():
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert (
            service["environment"]["CIVITAS_DATABASE"]
            == (services["migrate"]["environment"]["CIVITAS_DATABASE"])
        )
        assert mounts(service)[DATA] == mounts(services["migrate"])[DATA]
        assert mounts(service)[TLS] == "./certs/server"
        assert service["volumes"][-1].endswith(":ro")
        serve = cli(service["command"])
        assert serve.host == "0.0.0.0"
        assert serve.tls_cert.startswith(TLS)
        assert serve.tls_key.startswith(TLS)
        assert serve.client_ca.startswith(TLS)
        assert service["restart"] == "unless-stopped"
        assert service["environment"]["CIVITAS_LOG_FORMAT"] == "json"
        grpc_port = [p for p in service["ports"] if p.endswith(f":{serve.port}")]
        metrics_port = [p for p in service["ports"] if p.endswith(":9464")]
        assert len(grpc_port) == len(metrics_port) == 1
        assert metrics_port[0].startswith("127.0.0.1:")  # unauthenticated HTTP stays local
        published += [grpc_port[0].rsplit(":", 1)[0], metrics_port[0].rsplit(":", 1)[0]]
    assert len(set(published)) == len(published)  # each replica has its own host ports


def test_every_tls_file_the_services_name_is_one_make_certs_writes(
    services: dict[str, Any], tmp_path: Path
) -> None:
    subprocess.run(
        ["sh", str(DEPLOY / "make-certs.sh"), str(tmp_path / "certs")],
        capture_output=True,
        check=True,
        timeout=60,
    )
    written = {path.name for path in (tmp_path / "certs" / "server").iterdir()}
    named: set[str] = set()
    for service in replicas(services).values():
        serve = cli(service["command"])
        named |= {Path(serve.tls_cert).name, Path(serve.tls_key).name, Path(serve.client_ca).name}
        environment = service["environment"]
        named |= {
            Path(environment[name]).name
            for name in ("CIVITAS_HEALTHCHECK_CERT", "CIVITAS_HEALTHCHECK_KEY")
        }
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    named |= {Path(path).name for path in re.findall(rf"{TLS}/[\w.]+", dockerfile)}
    assert named == written


def test_the_subset_reader_refuses_what_it_does_not_understand() -> None:
    assert yaml_subset.load('a:\n  b: ["x",\n     "y"]\n  c: "no"\n  d:\n    - e:f\n') == {
        "a": {"b": ["x", "y"], "c": "no", "d": ["e:f"]}
    }
    assert yaml_subset.load("x: &base\n  a: 1\n  b: 2\ny:\n  b: 3\n  <<: *base\n") == {
        "x": {"a": 1, "b": 2},
        "y": {"a": 1, "b": 3},
    }
    for unsupported in (
        "a: 'quoted'\n",
        "a: no\n",
        "a: |\n  text\n",
        "a: 1 # note\n",
        "a:\n  - b: 1\n",
        "a: 1\na: 2\n",
        "a:\n    b: 1\n  c: 2\n",
    ):
        with pytest.raises(yaml_subset.UnsupportedYaml):
            yaml_subset.load(unsupported)
