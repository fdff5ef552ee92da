"""The export bundle (docs/ledger-format.md section 6), written from the AuditService rather than
the database.

What an auditor without access to the data folder does: take the latest signed checkpoint, stream
exactly the entries it covers, and save both with the public keyring, so that `civitas-verify
bundle` checks what the server committed to. The bytes are those `civitas export` writes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from civitas.client import CivitasClient


class IncompleteStream(Exception):
    """The server streamed fewer or more entries than its checkpoint covers."""


def download_bundle(client: CivitasClient, out_dir: Path) -> int:
    """Write the bundle into `out_dir`; returns the number of entries, the checkpoint's size."""
    checkpoint = client.latest_checkpoint()
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    written = 0
    with (out_dir / "entries.jsonl").open("w", encoding="utf-8") as lines:
        # to_index 0 would mean "the current size", which may have grown past the checkpoint.
        entries = client.entries(0, checkpoint.tree_size) if checkpoint.tree_size else iter(())
        for entry in entries:
            record = {
                "index": entry.index,
                "entry": entry.entry,
                "signature": base64.b64encode(entry.signature).decode(),
                "payload": (
                    base64.b64encode(entry.payload).decode() if entry.HasField("payload") else None
                ),
            }
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    if written != checkpoint.tree_size:
        raise IncompleteStream(
            f"the checkpoint covers {checkpoint.tree_size} entries, the server sent {written}"
        )
    (out_dir / "checkpoints" / f"{checkpoint.tree_size}.txt").write_text(
        checkpoint.note, encoding="utf-8", newline=""
    )
    # Fetched after the entries, so it holds every key that signed them even across a rotation.
    (out_dir / "keyring.json").write_text(client.keyring().json, encoding="utf-8", newline="")
    return written
