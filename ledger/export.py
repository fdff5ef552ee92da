"""Writes the export bundle of docs/ledger-format.md section 6, streaming: memory does not grow
with the log.

The bundle stops at the latest checkpoint, so every entry it holds is covered by a signed root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ledger.audit import AuditLog

Progress = Callable[[int], None]  # called with the number of entries just written


def export_bundle(audit: AuditLog, out_dir: Path, progress: Progress | None = None) -> int:
    """Write the bundle into `out_dir`; returns the number of entries written."""
    latest = audit.latest_checkpoint()
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    written = 0
    with (out_dir / "entries.jsonl").open("w", encoding="utf-8") as lines:
        for entry in audit.entries(0, latest.tree_size):
            lines.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
            written += 1
            if progress and written % 1000 == 0:
                progress(1000)
    if progress:
        progress(written % 1000)
    for checkpoint in audit.checkpoints(latest.tree_size):
        (out_dir / "checkpoints" / f"{checkpoint.tree_size}.txt").write_text(
            checkpoint.note, encoding="utf-8", newline=""
        )
    (out_dir / "keyring.json").write_bytes(audit.keyring().to_json_bytes())
    return written
