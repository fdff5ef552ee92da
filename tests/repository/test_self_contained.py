"""A clone runs with nothing beside it: no tracked file points at a path outside the repository.

The patterns are written so that this file does not match them itself (escaped in the regular
expressions, concatenated in the planted examples).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import REPO_ROOT

# Folders that existed beside the repository on the machine it grew up on, the constant that
# named one, and the design document that stayed there (the repository's docs/ replaces it).
# Escaped and bracketed, so that a plain grep for any of them finds nothing here either.
OUTSIDE_NAMES = re.compile(r"\.\./shared|/work/(?:shared|main|wt-)|\bSHARE[D]\b|\bDESIGN\.md\b")
# Path(__file__).parents[N] or .parent.parent… climbing above the repository root.
PARENTS_INDEX = re.compile(r"__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"__file__\)(?:\.resolve\(\))?((?:\.parent\b)+)")
# The root itself, climbed out of: the parent of REPO_ROOT or REPO.
ROOT_PARENT = re.compile(r"\b\w*(?:ROOT|REPO)\w*\.parent\b")


def outside_references(path: PurePosixPath, text: str) -> list[str]:
    """Each line of ``text`` (the file at ``path``, relative to the root) that leaves the repo."""
    depth = len(path.parts)  # Path(__file__) climbed `depth` times is the repository root
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        climbs = [int(index) + 1 for index in PARENTS_INDEX.findall(line)]
        climbs += [chain.count(".parent") for chain in PARENT_CHAIN.findall(line)]
        if (
            OUTSIDE_NAMES.search(line)
            or ROOT_PARENT.search(line)
            or any(climb > depth for climb in climbs)
        ):
            found.append(f"{path}:{number}: {line.strip()}")
    return found


def repository_files() -> list[PurePosixPath]:
    """Tracked files and new ones not ignored, so that a file is caught before its commit."""
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of the repository's files")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [PurePosixPath(name) for name in listing.split("\0") if name]


def test_no_repository_file_refers_to_a_path_outside_it() -> None:
    found = []
    for path in repository_files():
        file = Path(REPO_ROOT, path)
        if not file.is_file():
            continue  # deleted in the worktree, not yet in the index
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        found += outside_references(path, text)
    assert found == [], "\n".join(found)


def test_the_test_vectors_are_in_the_repository() -> None:
    files = {str(path) for path in repository_files()}
    assert "tests/vectors/merkle/LICENSE" in files
    assert "tests/vectors/note/LICENSE" in files
    assert "tests/vectors/note/peter-neumann.json" in files
    assert any(name.startswith("tests/vectors/merkle/inclusion/") for name in files)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("tests/ledger/test_merkle.py", "VECTORS = Path(__file__).resolve()" + '.parents[3] / "x"'),
        ("tests/ledger/test_merkle.py", "ROOT = Path(__file__)" + ".parent.parent.parent.parent"),
        ("tests/conftest.py", "OTHER = REPO_ROOT" + '.parent / "x"'),
        ("tests/verifier/test_note.py", "from tests.verifier.reports import SHARE" + "D"),
        (".ci/run", "# a clean clone with ../" + "shared beside it"),
        ("tests/verifier/reports.py", 'BASE = Path("/work/' + 'shared")'),
        ("ledger/merkle.py", '"""RFC 9162 hashing (DESIGN' + '.md section 3)."""'),
    ],
)
def test_a_reference_outside_the_repository_is_found(path: str, line: str) -> None:
    assert outside_references(PurePosixPath(path), f"first\n{line}\n") == [f"{path}:2: {line}"]


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("tests/verifier/test_cli.py", "REPO = Path(__file__).resolve().parents[2]"),
        ("tests/conftest.py", "REPO_ROOT = Path(__file__).resolve().parent.parent"),
        ("protos/generate.py", "PROTO_DIR = Path(__file__).parent / 'civitas'"),
        ("README.md", "The byte formats are in docs/ledger-format.md, shared by every replica."),
    ],
)
def test_a_path_inside_the_repository_is_not_reported(path: str, line: str) -> None:
    assert outside_references(PurePosixPath(path), line) == []
