"""The verifier must not share code with the writer: it imports only what docs/design.md section 2
allows."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

VERIFIER = Path(__file__).resolve().parents[2] / "verifier"
ALLOWED = {"cryptography", "grpc", "google", "protos", "verifier"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside the verifier package
                continue
            roots.add(str(node.module).split(".")[0])
    return roots


def test_the_verifier_imports_only_the_stdlib_cryptography_grpc_and_protos() -> None:
    sources = sorted(VERIFIER.glob("*.py"))
    assert len(sources) >= 10
    foreign = {
        f"{path.name}: {root}"
        for path in sources
        for root in _imported_roots(path)
        if root not in sys.stdlib_module_names and root not in ALLOWED
    }
    assert not foreign, f"verifier/ imports outside its allowance: {sorted(foreign)}"


def test_the_check_itself_catches_a_writer_import(tmp_path: Path) -> None:
    offender = tmp_path / "offender.py"
    offender.write_text("import json\nfrom ledger.merkle import root\nimport civitas.cli\n")
    roots = _imported_roots(offender)
    assert {"ledger", "civitas"} <= roots - sys.stdlib_module_names - ALLOWED
