"""docs/ledger-format.md's worked example is what the code produces, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    format_checkpoint_text,
    open_checkpoint,
    sign_note,
    verifier_key_string,
)
from ledger.entry import SIGNATURE_CONTEXT, parse_entry
from ledger.keyring import raw_public_bytes
from ledger.merkle import leaf_hash
from tests.conftest import REPO_ROOT

ENTRY_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CHECKPOINT_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def examples() -> dict[str, str]:
    text = (REPO_ROOT / "docs" / "ledger-format.md").read_text()
    blocks = re.findall(r"<!-- example:(\w+) -->\n```\w*\n(.*?)```", text, re.DOTALL)
    return dict(blocks)


def test_worked_example_bytes_and_hashes() -> None:
    ex = examples()
    payload = ex["payload"].rstrip("\n").encode()
    entry_bytes = ex["entry"].rstrip("\n").encode()
    entry = parse_entry(entry_bytes)  # canonical, or this raises

    assert hashlib.sha256(payload).hexdigest() == ex["payload_sha256"].strip()
    assert entry.payload_sha256 == ex["payload_sha256"].strip()

    public_key = base64.b64decode(ex["entry_public_key"].strip())
    assert public_key == raw_public_bytes(ENTRY_KEY.public_key())
    signature = base64.b64decode(ex["signature"].strip())
    assert signature == ENTRY_KEY.sign(SIGNATURE_CONTEXT + entry_bytes)  # Ed25519 is deterministic
    ENTRY_KEY.public_key().verify(signature, SIGNATURE_CONTEXT + entry_bytes)

    assert leaf_hash(entry_bytes).hex() == ex["leaf_hash"].strip()

    checkpoint_key = ex["checkpoint_key"].strip()
    assert checkpoint_key == verifier_key_string("civitas.example/log", CHECKPOINT_KEY.public_key())
    note = ex["checkpoint"]
    signer = NoteSigner("civitas.example/log", CHECKPOINT_KEY)
    expected = sign_note(
        format_checkpoint_text(Checkpoint("civitas.example/log", 1, leaf_hash(entry_bytes))), signer
    )
    assert note == expected
    opened = open_checkpoint(note, [NoteVerifier(checkpoint_key)])
    assert opened.root_hash == leaf_hash(entry_bytes)
