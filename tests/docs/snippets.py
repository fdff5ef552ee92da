"""The guide's code blocks are regions of the example files: `<!-- include: PATH#NAME -->` before
a fenced block, `// #region NAME` … `// #endregion NAME` in the file.

After editing an example, `python -m tests.docs.snippets` copies every region into the guide;
the test then checks the guide and the files agree byte for byte.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT / "docs" / "relying-services.md"
INCLUDE = re.compile(r"(<!-- include: (\S+)#([\w-]+) -->\n```\w*\n)(.*?)(```\n)", re.DOTALL)
REGION = re.compile(r"^// #region ([\w-]+)\n(.*?)^// #endregion \1\n", re.DOTALL | re.MULTILINE)


def regions(path: Path) -> dict[str, str]:
    return dict(REGION.findall(path.read_text()))


def included(guide: str) -> list[tuple[str, str, str]]:
    """(path, region, the block shown) for every include marker in the guide."""
    return [(m.group(2), m.group(3), m.group(4)) for m in INCLUDE.finditer(guide)]


def with_current_snippets(guide: str) -> str:
    def current(match: re.Match[str]) -> str:
        code = regions(REPO_ROOT / match.group(2))[match.group(3)]
        return match.group(1) + code + match.group(5)

    return INCLUDE.sub(current, guide)


if __name__ == "__main__":
    GUIDE.write_text(with_current_snippets(GUIDE.read_text()))
