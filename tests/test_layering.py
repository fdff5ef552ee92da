"""The packages stay in layers: a module imports only from its own layer or the ones below.

    ledger  ←  identity, projections  ←  civitas.api  ←  civitas (cli, server, node, config…)

identity and projections sit side by side and import neither each other nor anything above
the ledger; the domain packages hold no gRPC or protobuf code (that is the API layer's). The
verifier is apart from them all (tests/verifier/test_independence.py). Every import counts:
inside functions and under `TYPE_CHECKING` too, since either one is still a dependency a
reader has to follow.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lower rank: lower layer. Equal ranks may not import each other unless they are one package.
RANKS = {"ledger": 0, "identity": 1, "projections": 1, "civitas.api": 2, "civitas": 3}
DOMAIN = ("ledger", "identity", "projections")
WIRE = ("grpc", "grpc_status", "grpc_health", "grpc_reflection", "google", "protos")


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to, or None for anything else (stdlib, libraries,
    protos, the verifier, tests)."""
    if module == "civitas.api" or module.startswith("civitas.api."):
        return "civitas.api"
    root = module.split(".", maxsplit=1)[0]
    return root if root in RANKS else None


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute dotted names."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from civitas import api` names a module too: count `civitas.api` as well.
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(path: Path, root: Path = ROOT) -> list[str]:
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    own = layer_of(name)
    assert own is not None, name
    imports = sorted(imported_modules(path, root))
    found = []
    for module in imports:
        other = layer_of(module)
        if other is None or other == own:
            continue
        if RANKS[other] >= RANKS[own]:
            found.append(f"{name} ({own}) imports {module} ({other})")
    if own in DOMAIN:
        found += [
            f"{name} ({own}) imports {module}: wire code belongs in civitas/api/"
            for module in imports
            if module.split(".")[0] in WIRE
        ]
    return found


def sources() -> list[Path]:
    return sorted(p for package in RANKS for p in (ROOT / package.replace(".", "/")).rglob("*.py"))


def test_no_package_imports_a_higher_or_sibling_layer() -> None:
    paths = sources()
    assert len(paths) > 80  # the walk found the packages
    found = [line for path in paths for line in violations(path)]
    assert not found, "layering broken:\n" + "\n".join(found)


def test_the_domain_packages_hold_no_grpc_or_protobuf_code() -> None:
    for package in DOMAIN:
        for path in (ROOT / package).rglob("*.py"):
            wire = {m for m in imported_modules(path) if m.split(".")[0] in WIRE}
            assert not wire, f"{path.relative_to(ROOT)} imports {sorted(wire)}"


@pytest.mark.parametrize(
    ("where", "source", "broken"),
    [
        ("ledger/x.py", "from identity.citizen import Citizen\n", True),
        ("ledger/x.py", "from projections import cases\n", True),
        ("identity/x.py", "import projections.cases\n", True),
        ("projections/x.py", "from civitas.api.roles import ROLES\n", True),
        ("projections/x.py", "from civitas import api\n", True),
        ("civitas/api/x.py", "from civitas.node import Node\n", True),
        ("civitas/api/x.py", "from civitas import node\n", True),
        ("civitas/api/x.py", "from ..config import Config\n", True),
        ("identity/x.py", "import grpc\n", True),
        ("ledger/x.py", "from protos.civitas.v1 import audit_pb2\n", True),
        (
            "ledger/x.py",
            "import typing\nif typing.TYPE_CHECKING:\n    from civitas.node import Node\n",
            True,
        ),
        ("ledger/x.py", "def f():\n    from identity import citizen\n", True),
        ("civitas/x.py", "from civitas.api.roles import ROLES\nimport grpc\n", False),
        ("civitas/api/x.py", "from projections.cases import Cases\nfrom . import roles\n", False),
        ("identity/x.py", "from ledger.errors import NotFound\nfrom .totp import T\n", False),
    ],
)
def test_the_check_itself_catches_a_reversed_arrow(
    where: str, source: str, broken: bool, tmp_path: Path
) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert bool(violations(path, tmp_path)) is broken, violations(path, tmp_path)


# The citizen portal is a relying service like any agency's: it reaches Civitas only through
# the public gRPC API (the generated protos), never through the service's own code, so what it
# shows is what any relying service could show. Only the composition root (civitas.cli) starts it.
PORTAL_MAY_IMPORT = {"protos", "grpc", "grpc_status", "google", "starlette", "jinja2", "uvicorn"}
SERVICE_PACKAGES = {"civitas", "ledger", "identity", "projections", "verifier", "witness"}


def portal_violations(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for module in sorted(imported_modules(path, root)):
        top = module.split(".")[0]
        if top in SERVICE_PACKAGES or not (
            top in PORTAL_MAY_IMPORT or top == "portal" or top in sys.stdlib_module_names
        ):
            found.append(f"{path.relative_to(root)} imports {module}")
    return found


def test_the_portal_reaches_civitas_only_through_the_generated_protos() -> None:
    paths = sorted((ROOT / "portal").rglob("*.py"))
    assert len(paths) > 5
    found = [line for path in paths for line in portal_violations(path)]
    assert not found, "the portal imports beyond the public API:\n" + "\n".join(found)
    for package in SERVICE_PACKAGES - {"civitas"}:
        for path in (ROOT / package).rglob("*.py") if (ROOT / package).exists() else []:
            assert not {m for m in imported_modules(path) if m.split(".")[0] == "portal"}, path


@pytest.mark.parametrize(
    ("source", "broken"),
    [
        ("from civitas.client import CivitasClient\n", True),
        ("import ledger.receipts\n", True),
        ("import requests\n", True),
        ("from protos.civitas.v1 import history_pb2\nimport json\n", False),
        ("from starlette.routing import Route\nfrom . import i18n\n", False),
    ],
)
def test_the_portal_check_catches_an_import_beyond_the_api(
    source: str, broken: bool, tmp_path: Path
) -> None:
    path = tmp_path / "portal" / "x.py"
    path.parent.mkdir()
    path.write_text(source)
    assert bool(portal_violations(path, tmp_path)) is broken


WITNESS = ROOT / "witness"
WITNESS_ALLOWED = {"cryptography", "witness"}  # it shares no code with the log it watches


def foreign_imports(path: Path) -> set[str]:
    """What a witness module imports beyond the standard library and ``cryptography``."""
    # The package's parent as the root: relative imports resolve inside the package.
    roots = {module.split(".")[0] for module in imported_modules(path, path.parents[1])}
    return {root for root in roots if root not in sys.stdlib_module_names} - WITNESS_ALLOWED


def test_the_witness_imports_only_the_stdlib_and_cryptography() -> None:
    sources = sorted(WITNESS.rglob("*.py"))
    assert len(sources) >= 6
    found = {f"{path.name}: {sorted(foreign_imports(path))}" for path in sources}
    assert all(line.endswith(": []") for line in found), sorted(found)


@pytest.mark.parametrize(
    "source",
    ["from ledger.checkpoint import sign_note\n", "import verifier.note\n", "import grpc\n"],
)
def test_the_witness_check_catches_a_foreign_import(source: str, tmp_path: Path) -> None:
    path = tmp_path / "witness" / "x.py"
    path.parent.mkdir()
    path.write_text(source)
    assert foreign_imports(path)
