"""docs/limits.md shows the field limits the server enforces: its table is generated from
`civitas/api/field_limits.py`, and this test keeps the two equal."""

from __future__ import annotations

from civitas.api.field_limits import MAX_REQUEST_BYTES, limits_markdown
from tests.conftest import REPO_ROOT

LIMITS_DOC = REPO_ROOT / "docs" / "limits.md"
ERRORS_DOC = REPO_ROOT / "docs" / "errors.md"


def test_the_doc_shows_the_table_of_the_code() -> None:
    # Regenerate: python -c "import civitas.api.field_limits as f; print(f.limits_markdown())"
    assert limits_markdown() in LIMITS_DOC.read_text()


def test_the_docs_state_the_receive_limit_of_the_code() -> None:
    assert f"{MAX_REQUEST_BYTES:,} bytes" in LIMITS_DOC.read_text()
    assert f"({MAX_REQUEST_BYTES // 1024} KiB" in ERRORS_DOC.read_text()
