"""The latest tree cosigned per origin, on disk, crash-safely.

A state file is replaced whole: written to a temporary file, fsynced, renamed over the old one,
and the folder fsynced, all before the cosignature leaves the process. After a crash at any
point the file holds either the old tree (and no cosignature for the new one was sent) or the
new one, so the witness never cosigns two different trees of the same size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path


class StateError(Exception):
    """A state file is damaged: the witness refuses to guess what it cosigned."""


@dataclass(frozen=True, slots=True)
class Cosigned:
    size: int
    root: bytes


class StateStore:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _path(self, origin: str) -> Path:
        # A digest: an origin is any text, a file name is not.
        return self._folder / f"{hashlib.sha256(origin.encode()).hexdigest()}.json"

    def load(self, origin: str) -> Cosigned | None:
        """The tree last cosigned for `origin`, or None if never."""
        path = self._path(origin)
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as error:
            raise StateError(f"{path}: {error}") from None
        if (
            type(document) is not dict
            or document.get("origin") != origin
            or type(document.get("size")) is not int
            or type(document.get("root")) is not str
        ):
            raise StateError(f"{path} is not the state of {origin!r}")
        try:
            root = base64.b64decode(document["root"], validate=True)
        except ValueError:
            root = b""
        if len(root) != 32 or document["size"] < 0:
            raise StateError(f"{path} holds no valid tree")
        return Cosigned(document["size"], root)

    def save(self, origin: str, cosigned: Cosigned, note: str) -> None:
        """Durably replace the state of `origin` (the note is kept as evidence)."""
        path = self._path(origin)
        temporary = path.with_suffix(".tmp")
        document = {
            "origin": origin,
            "size": cosigned.size,
            "root": base64.b64encode(cosigned.root).decode(),
            "checkpoint": note,
        }
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, json.dumps(document).encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
        folder = os.open(self._folder, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself must survive a power cut
        finally:
            os.close(folder)
