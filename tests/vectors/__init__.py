"""The test vectors from other implementations, kept in the repository (see README.md here)."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).resolve().parent
MERKLE = VECTORS / "merkle"
NOTE = VECTORS / "note"
COSIGNATURE = VECTORS / "cosignature"
