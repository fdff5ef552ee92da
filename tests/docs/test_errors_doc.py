"""docs/errors.md and the code name the same refusal reasons, and the doc covers every RPC.

The reasons in the code are read from its syntax tree: every `reason="..."` at a raise site,
every class default `reason = "..."`, and the values of the `*_REASONS` tables that map stored
outcomes to reasons (identity/refusals.py). The doc's reasons are the first column of its
"Reason" tables. A reason added without documentation, or documented but no longer sent,
fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from protos.civitas import v1
from protos.civitas.v1 import audit_pb2, history_pb2, identity_pb2, transaction_pb2
from tests.conftest import REPO_ROOT

PACKAGES = ("civitas", "ledger", "identity", "projections")
REASON = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
DOC = REPO_ROOT / "docs" / "errors.md"
REASON_CELL = re.compile(r"\| `([^`]+)` \|")


def reasons_in_code() -> dict[str, list[str]]:
    """Each reason the code can send, with where it is written."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for value in _reason_literals(ast.parse(path.read_text())):
                where = f"{path.relative_to(REPO_ROOT)}:{value.lineno}"
                found.setdefault(str(value.value), []).append(where)
    return found


def _reason_literals(tree: ast.AST) -> list[ast.Constant]:
    values: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "reason":
            values.append(node.value)
        elif isinstance(node, ast.ClassDef):
            values += [
                statement.value
                for statement in node.body
                if isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "reason" for t in statement.targets)
            ]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.endswith("_REASONS") for t in targets):
                values += [v for v in node.value.values if v is not None]
    return [
        v
        for v in values
        if isinstance(v, ast.Constant) and isinstance(v.value, str) and REASON.fullmatch(v.value)
    ]


def reasons_in_doc(text: str) -> set[str]:
    """The first cells of the tables whose header begins `| Reason |`."""
    reasons: set[str] = set()
    in_reason_table = False
    for line in text.splitlines():
        if not line.startswith("|"):
            in_reason_table = False
        elif line.startswith("| Reason |"):
            in_reason_table = True
        elif in_reason_table and (cell := REASON_CELL.match(line)):
            reasons.add(cell[1])
    return reasons


def test_every_reason_in_the_code_is_documented_and_every_documented_one_is_sent() -> None:
    in_code = reasons_in_code()
    in_doc = reasons_in_doc(DOC.read_text())
    undocumented = {reason: in_code[reason] for reason in sorted(set(in_code) - in_doc)}
    assert not undocumented, f"add to docs/errors.md: {undocumented}"
    assert not in_doc - set(in_code), (
        f"docs/errors.md names reasons never sent: {in_doc - set(in_code)}"
    )


def test_the_reasons_are_read_from_raise_sites_defaults_and_tables() -> None:
    """The collector finds each form the code uses, so a reason cannot hide from the test."""
    found = reasons_in_code()
    assert "ledger/transactions.py" in found["IDEMPOTENCY_KEY_REUSED"][0]  # raise site
    assert "ledger/errors.py" in found["CONCURRENT_MODIFICATION"][0]  # class default
    assert "identity/refusals.py" in found["FACTOR_THROTTLED"][0]  # table
    table = "| Reason | Code |\n|---|---|\n| `FOUND` | `NOT_FOUND` |\n\n| Code |\n| `OTHER` |\n"
    assert reasons_in_doc(table) == {"FOUND"}


def test_every_rpc_has_a_row_in_the_doc_naming_documented_reasons() -> None:
    text = DOC.read_text()
    documented = reasons_in_doc(text)
    rpc_rows = [
        line.split(" | ") for line in text.splitlines() if re.match(r"\| [A-Z]\w+ \| ", line)
    ]
    for row in rpc_rows:
        named = set(re.findall(r"`([A-Z0-9_]+)`", row[2]))
        assert named <= documented, f"{row[0]}: {named - documented} not in the reason tables"
    modules = (audit_pb2, history_pb2, identity_pb2, transaction_pb2)
    assert len(modules) == len(list(Path(v1.__path__[0]).glob("*.proto")))
    for module in modules:
        for service in module.DESCRIPTOR.services_by_name.values():
            assert f"### {service.name}" in text, service.name
            for method in service.methods:
                assert re.search(rf"^\| {method.name} \|", text, re.MULTILINE), method.full_name
