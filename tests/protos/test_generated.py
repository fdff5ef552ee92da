"""The committed generated modules are exactly what the .proto sources produce today."""

from __future__ import annotations

from pathlib import Path

from protos.generate import PROTO_DIR, REPO_ROOT, generate


def test_generated_modules_are_not_stale(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = sorted((tmp_path / PROTO_DIR).glob("*_pb2*.py*"))
    assert fresh, "protoc generated nothing"
    committed = sorted((REPO_ROOT / PROTO_DIR).glob("*_pb2*.py*"))
    assert [p.name for p in fresh] == [p.name for p in committed]
    for new, old in zip(fresh, committed, strict=True):
        assert new.read_text() == old.read_text(), f"{old.name} is stale: run `make protos`"
