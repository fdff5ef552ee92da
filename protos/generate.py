"""Regenerates the Python modules from the .proto sources: `python -m protos.generate [OUT_DIR]`.

The generated modules are committed; tests/protos/test_generated.py fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = Path("protos") / "civitas" / "v1"


def proto_sources() -> list[str]:
    return sorted(
        str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / PROTO_DIR).glob("*.proto")
    )


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc  # only a development dependency

    out_dir.mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{REPO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(REPO_ROOT / source) for source in proto_sources()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT)
