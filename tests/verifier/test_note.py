"""C2SP signed-note and tlog-checkpoint parsing and verification."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.vectors import NOTE
from tests.verifier.bundle_factory import NoteKey, checkpoint_text, seeded_key
from verifier.checkpoint import parse_checkpoint_text, verify_checkpoint
from verifier.note import NoteError, open_note, parse_note, parse_verifier_key

VECTOR = json.loads((NOTE / "peter-neumann.json").read_text())
KEY = NoteKey("civitas-log", seeded_key("note-test"))
OTHER = NoteKey("civitas-log", seeded_key("another"))
ROOT = bytes(range(32))


def test_the_go_reference_note_verifies_with_its_verifier_key() -> None:
    verifier = parse_verifier_key(VECTOR["vkey"])
    assert verifier.name == "PeterNeumann"
    assert verifier.key_hash.hex() == VECTOR["key_hash_hex"]
    text, names = open_note(VECTOR["note"], [verifier])
    assert text == VECTOR["text"]
    assert names == ["PeterNeumann"]


def test_the_factory_signs_the_go_reference_note_byte_for_byte() -> None:
    # The test factory's signer must match Go's, or the bundle tests would test nothing real.
    seed = base64.b64decode(VECTOR["skey"].split("+", 4)[4])[1:]  # PRIVATE+KEY+name+hash+key
    signer = NoteKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    assert signer.vkey == VECTOR["vkey"]
    assert signer.sign(VECTOR["text"]) == VECTOR["note"]


def test_a_changed_text_does_not_verify() -> None:
    verifier = parse_verifier_key(VECTOR["vkey"])
    with pytest.raises(NoteError, match="does not verify"):
        open_note(VECTOR["note"].replace("answer", "answers"), [verifier])


def test_a_note_signed_only_by_unknown_keys_is_refused() -> None:
    note = OTHER.sign(checkpoint_text("o", 1, ROOT))
    with pytest.raises(NoteError, match="not signed by a trusted key"):
        open_note(note, [parse_verifier_key(KEY.vkey)])


def test_a_cosignature_by_an_unknown_key_is_ignored() -> None:
    text = checkpoint_text("o", 1, ROOT)
    witness = NoteKey("witness", seeded_key("witness")).sign(text)
    note = KEY.sign(text) + witness.split("\n\n", 1)[1]
    assert open_note(note, [parse_verifier_key(KEY.vkey)])[1] == ["civitas-log"]


@pytest.mark.parametrize(
    "vkey",
    [
        "civitas-log+00000000+" + KEY.vkey.split("+", 2)[2],  # hash does not match the key
        KEY.vkey.replace("+", "", 1),  # no name separator
        "civitas log+" + KEY.vkey.split("+", 1)[1],  # whitespace in the name
        KEY.vkey[:-4] + "AAA=",  # key of the wrong length / spelling
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda note: note.rstrip("\n"), "newline"),
        (lambda note: note.replace("\n\n", "\n"), "blank line"),
        (lambda note: note.replace("\u2014", "-"), "em dash"),
        (lambda note: note.replace("=\n", "\n"), "base64"),
        (lambda note: note.replace("o\n", "o\r\n", 1), "control character"),
    ],
)
def test_malformed_notes_are_refused(mutate: object, reason: str) -> None:
    note = KEY.sign(checkpoint_text("o", 1, ROOT))
    with pytest.raises(NoteError, match=reason):
        parse_note(mutate(note))  # type: ignore[operator]


def test_non_canonical_base64_in_a_signature_line_is_refused() -> None:
    note = KEY.sign(checkpoint_text("o", 1, ROOT))
    signature_line = note.split("\n\n")[1]
    encoded = signature_line.split(" ")[2].rstrip("\n")
    # 68 bytes encode to 92 characters ending in "="; the last letter carries 2 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = encoded[-2]
    twin = alphabet[alphabet.index(last) ^ 1]
    assert base64.b64decode(encoded[:-2] + twin + "=") == base64.b64decode(encoded)
    with pytest.raises(NoteError, match="canonical"):
        parse_note(note.replace(encoded, encoded[:-2] + twin + "="))


def test_a_checkpoint_is_parsed_and_its_origin_enforced() -> None:
    note = KEY.sign(checkpoint_text("civitas.example/log", 42, ROOT))
    verifiers = [parse_verifier_key(KEY.vkey)]
    checkpoint = verify_checkpoint(note, verifiers, "civitas.example/log")
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "civitas.example/log",
        42,
        ROOT,
    )
    with pytest.raises(NoteError, match="origin"):
        verify_checkpoint(note, verifiers, "other.example/log")


def test_checkpoint_extension_lines_are_allowed() -> None:
    text = checkpoint_text("o", 3, ROOT) + "extension line\n"
    assert parse_checkpoint_text(text).size == 3


@pytest.mark.parametrize(
    "text",
    [
        "o\n03\n" + base64.b64encode(ROOT).decode() + "\n",  # leading zero
        "o\n-3\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n3\n" + base64.b64encode(ROOT[:31]).decode() + "\n",  # short root
        "o\n3\n",  # no root
        "\n3\n" + base64.b64encode(ROOT).decode() + "\n",  # empty origin
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint_text(text)
