"""The log's side of C2SP tlog-witness: send each new checkpoint to the witnesses, keep their
cosignatures.

One thread per witness, while this process leads the sequencer: it sends the newest signed
checkpoint with a consistency proof from the size that witness cosigned last, follows a 409's
size, checks the cosignature it gets back (C2SP tlog-cosignature, cosignature/v1) and stores it
beside the checkpoint. Nothing on the write path waits for a witness: one that is down or slow
only delays the cosigned checkpoint, and the thread catches up when it answers again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.log_recorder import MerkleLogRecorder, StoredCheckpoint
from ledger.merkle import consistency_proof

ALG_COSIGNATURE_V1 = 0x04
SIGNATURE_LINE_PREFIX = "\u2014 "
SIZE_CONTENT_TYPE = "text/x.tlog.size"
REQUEST_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.25  # how often a feeder looks for a new checkpoint (one is signed every 0.5 s)
MAX_BACKOFF_SECONDS = 30.0
# An idle log's checkpoint is sent again this often, so that its cosignatures stay fresh: an
# auditor can then tell a log that stopped being witnessed (e.g. rolled back) by their age.
REFRESH_SECONDS = 60.0
MAX_CONFLICTS_IN_A_ROW = 3  # a 409 names the size to retry from; more means something is wrong

log = logging.getLogger("civitas.witnessing")


class WitnessKeyError(ValueError):
    """A witness key is not a cosignature/v1 note verifier key."""


@dataclass(frozen=True)
class WitnessKey:
    """``<name>+<8 hex key ID>+<base64(0x04 || 32-byte Ed25519 key)>``."""

    vkey: str
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> WitnessKey:
        name, _, rest = vkey.partition("+")
        hash_hex, _, encoded = rest.partition("+")
        if not name or any(c.isspace() for c in name) or len(hash_hex) != 8:
            raise WitnessKeyError(f"not a note verifier key <name>+<hash>+<key>: {vkey!r}")
        try:
            key_id = bytes.fromhex(hash_hex)
            material = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise WitnessKeyError(f"witness key {name!r}: malformed hash or key") from None
        if len(material) != 33 or material[0] != ALG_COSIGNATURE_V1:
            raise WitnessKeyError(f"witness key {name!r}: not a cosignature/v1 key (0x04 first)")
        digest = hashlib.sha256(name.encode() + b"\n" + material).digest()
        if digest[:4] != key_id:
            raise WitnessKeyError(f"witness key {name!r}: the key hash does not match the key")
        return cls(vkey, name, key_id, material[1:])

    def verified_line(self, response: str, note_text: str) -> str | None:
        """This witness's line from an add-checkpoint response, if its cosignature verifies."""
        for line in response.splitlines():
            name, _, encoded = line.removeprefix(SIGNATURE_LINE_PREFIX).partition(" ")
            if not line.startswith(SIGNATURE_LINE_PREFIX) or name != self.name:
                continue
            try:
                blob = base64.b64decode(encoded, validate=True)
            except ValueError:
                continue
            if len(blob) != 4 + 8 + 64 or blob[:4] != self.key_id:
                continue
            (timestamp,) = struct.unpack(">Q", blob[4:12])
            message = f"cosignature/v1\ntime {timestamp}\n{note_text}".encode()
            try:
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(blob[12:], message)
            except InvalidSignature:
                continue
            return line + "\n"
        return None


@dataclass(frozen=True)
class Witness:
    url: str  # the submission prefix: add-checkpoint is POSTed to <url>/add-checkpoint
    key: WitnessKey


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses this log asks, and how many cosignatures make a checkpoint witnessed."""

    witnesses: tuple[Witness, ...]
    threshold: int
    refresh_seconds: float = REFRESH_SECONDS

    @property
    def vkeys(self) -> tuple[str, ...]:
        return tuple(witness.key.vkey for witness in self.witnesses)


def note_text(note: str) -> str:
    """The signed text of a note: everything before its blank line, with its final newline."""
    return note[: note.rfind("\n\n") + 1]


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: str


def _post(url: str, body: bytes, timeout: float) -> _Answer:
    request = urllib.request.Request(  # noqa: S310 - the operator configures http(s) URLs
        url + "/add-checkpoint", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return _Answer(response.status, response.headers.get_content_type(), _read(response))
    except urllib.error.HTTPError as error:
        return _Answer(error.code, error.headers.get_content_type(), _read(error))


def _read(response: object) -> str:
    read: Callable[[int], bytes] = getattr(response, "read")  # noqa: B009 - both kinds read
    return read(64 * 1024).decode("utf-8", errors="replace")


class WitnessFeeder:
    """Keeps one witness up to date with the newest signed checkpoint."""

    def __init__(
        self,
        view: MerkleLogRecorder,
        witness: Witness,
        leading: Callable[[], bool],
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        self._view = view
        self._witness = witness
        self._leading = leading
        self._timeout = timeout
        self._refresh = refresh
        self._cosigned_at = -float("inf")  # time.monotonic() of the last cosignature
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"witness-{witness.key.name}", daemon=True
        )
        self._known_size: int | None = None  # what the witness last cosigned, once learnt
        self._cosigned_size = -1  # the newest size this feeder holds a cosignature for

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        backoff = POLL_SECONDS
        while not self._stopping.wait(backoff):
            if not self._leading():
                backoff = POLL_SECONDS
                continue
            try:
                self.feed()
                backoff = POLL_SECONDS
            except (OSError, ValueError) as error:  # URLError, timeouts, refusals
                log.warning("witness %s: %s", self._witness.key.name, error)
                backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_SECONDS)

    def feed(self) -> bool:
        """Send the newest checkpoint if this witness has not cosigned it; True if it did now."""
        latest = self._view.latest_checkpoint()
        if latest is None or latest.tree_size < self._cosigned_size:
            return False
        fresh = time.monotonic() - self._cosigned_at < self._refresh
        if latest.tree_size == self._cosigned_size and fresh:
            return False
        for _ in range(MAX_CONFLICTS_IN_A_ROW):
            answer = self._submit(latest)
            if answer.status == 409 and answer.content_type == SIZE_CONTENT_TYPE:
                self._known_size = int(answer.body.strip())
                continue
            if answer.status != 200:
                raise ValueError(
                    f"refused the checkpoint of size {latest.tree_size} "
                    f"(HTTP {answer.status}): {answer.body.strip()[:200]}"
                )
            line = self._witness.key.verified_line(answer.body, note_text(latest.note))
            if line is None:
                raise ValueError("answered without a valid cosignature by its key")
            self._view.add_cosignature(latest.tree_size, self._witness.key.vkey, line)
            self._known_size = self._cosigned_size = latest.tree_size
            self._cosigned_at = time.monotonic()
            return True
        raise ValueError(f"kept answering 409 (it holds size {self._known_size})")

    def _submit(self, checkpoint: StoredCheckpoint) -> _Answer:
        old = self._known_size if self._known_size is not None else 0
        if old > checkpoint.tree_size:
            # The witness cosigned a larger tree than this log now has: a rollback, which no
            # proof can bridge. Loudly, every time: an operator must look.
            raise ValueError(
                f"it cosigned {old} entries, the log now has {checkpoint.tree_size}: "
                "the log was rolled back"
            )
        proof = consistency_proof(self._view, old, checkpoint.tree_size) if old else []
        lines = [f"old {old}", *(base64.b64encode(node).decode() for node in proof)]
        body = ("\n".join(lines) + "\n\n" + checkpoint.note).encode()
        return _post(self._witness.url.rstrip("/"), body, self._timeout)


def feeders(
    view: MerkleLogRecorder,
    policy: WitnessPolicy,
    leading: Callable[[], bool],
    refresh: float = REFRESH_SECONDS,
) -> Sequence[WitnessFeeder]:
    return [WitnessFeeder(view, witness, leading, refresh=refresh) for witness in policy.witnesses]
