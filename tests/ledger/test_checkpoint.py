"""Tests for ledger.checkpoint: the Go signed-note vector, C2SP key hashes, strict parsing."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteError,
    NoteSigner,
    NoteVerifier,
    format_checkpoint_text,
    open_checkpoint,
    open_note,
    parse_checkpoint_text,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key_string,
)
from tests.vectors import NOTE

VECTOR = json.loads((NOTE / "peter-neumann.json").read_text())
ROOT = hashlib.sha256(b"a root").digest()
EM_DASH = "\u2014"


def private_key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed.to_bytes(32, "big"))


def raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def c2sp_key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """C2SP signed-note: SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + raw(public_key)).digest()[:4]


SIGNER = NoteSigner("example.gov/civitas", private_key(1))
VERIFIER = NoteVerifier(SIGNER.verifier_key)


# --- the Go reference vector ----------------------------------------------------------------------


def test_signing_the_vector_text_reproduces_the_note_byte_for_byte() -> None:
    signer = parse_signer_key(VECTOR["skey"])
    assert signer.name == "PeterNeumann"
    assert signer.key_hash.hex() == VECTOR["key_hash_hex"]
    assert signer.verifier_key == VECTOR["vkey"]
    assert sign_note(VECTOR["text"], signer).encode() == VECTOR["note"].encode()


def test_the_vector_key_opens_the_vector_note() -> None:
    verifier = NoteVerifier(VECTOR["vkey"])
    assert verifier.key_hash.hex() == VECTOR["key_hash_hex"]
    assert verifier.key_hash == c2sp_key_hash(verifier.name, verifier.public_key)
    for note in (VECTOR["note"], VECTOR["note"].encode()):
        text, names = open_note(note, [verifier])
        assert text == VECTOR["text"]
        assert names == ["PeterNeumann"]


def test_the_vector_note_does_not_open_with_another_key() -> None:
    with pytest.raises(NoteError, match="known key"):
        open_note(VECTOR["note"], [VERIFIER])


# --- keys -----------------------------------------------------------------------------------------

key_names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs"), blacklist_characters="+"
    ),
    min_size=1,
    max_size=20,
)
seeds = st.binary(min_size=32, max_size=32)


@settings(max_examples=50)
@given(name=key_names, seed=seeds)
def test_key_hash_and_verifier_key_follow_c2sp(name: str, seed: bytes) -> None:
    signer = NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed))
    expected_hash = c2sp_key_hash(name, signer.public_key)
    assert signer.key_hash == expected_hash
    encoded_key = base64.b64encode(b"\x01" + raw(signer.public_key)).decode()
    assert signer.verifier_key == f"{name}+{expected_hash.hex()}+{encoded_key}"
    assert verifier_key_string(name, signer.public_key) == signer.verifier_key
    parsed_name, parsed_hash, parsed_key = parse_verifier_key(signer.verifier_key)
    assert (parsed_name, parsed_hash, raw(parsed_key)) == (
        name,
        expected_hash,
        raw(signer.public_key),
    )


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0", "em\u2003", "nl\n"])
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        NoteSigner(name, private_key(2))


def _replace_hash(verifier_key: str, new_hash: str) -> str:
    name, _, encoded = verifier_key.split("+", 2)
    return f"{name}+{new_hash}+{encoded}"


@pytest.mark.parametrize(
    "verifier_key",
    [
        pytest.param(_replace_hash(SIGNER.verifier_key, "00000000"), id="wrong-hash"),
        pytest.param(_replace_hash(SIGNER.verifier_key, "0000000"), id="short-hash"),
        pytest.param(_replace_hash(SIGNER.verifier_key, "0000 000"), id="spaced-hash"),
        pytest.param("example.gov+" + SIGNER.verifier_key.split("+", 1)[1], id="other-name"),
        pytest.param(SIGNER.verifier_key + "=", id="bad-base64"),
        pytest.param(SIGNER.verifier_key.rsplit("+", 1)[0], id="no-key"),
        pytest.param(
            "n+"
            + hashlib.sha256(b"n\n\x02" + bytes(32)).digest()[:4].hex()
            + "+"
            + base64.b64encode(b"\x02" + bytes(32)).decode(),
            id="not-ed25519",
        ),
    ],
)
def test_malformed_verifier_keys_are_refused(verifier_key: str) -> None:
    with pytest.raises(ValueError):
        parse_verifier_key(verifier_key)
    with pytest.raises(ValueError):
        NoteVerifier(verifier_key)


def test_malformed_signer_keys_are_refused() -> None:
    good = VECTOR["skey"]
    parse_signer_key(good)
    for bad in (
        good.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        good.replace("c74f20a3", "c74f20a4"),
        good.replace("PeterNeumann", "PeterNeumann2"),
        good[:-4],
    ):
        with pytest.raises(ValueError):
            parse_signer_key(bad)


def test_signers_do_not_show_their_private_key() -> None:
    seed_b64 = VECTOR["skey"].rsplit("+", 1)[1]
    signer = parse_signer_key(VECTOR["skey"])
    assert seed_b64 not in repr(signer)
    assert seed_b64 not in repr(vars(signer))


# --- checkpoints ----------------------------------------------------------------------------------


def test_a_checkpoint_note_has_the_design_layout() -> None:
    checkpoint = Checkpoint("example.gov/civitas", 20852163, ROOT)
    note = sign_checkpoint(checkpoint, SIGNER)
    text = f"example.gov/civitas\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    assert format_checkpoint_text(checkpoint) == text
    match = re.fullmatch(rf"{re.escape(text)}\n{EM_DASH} example\.gov/civitas (\S+)\n", note)
    assert match is not None
    signature = base64.b64decode(match.group(1))
    assert signature[:4] == c2sp_key_hash("example.gov/civitas", SIGNER.public_key)
    SIGNER.public_key.verify(signature[4:], text.encode())  # raises if it does not verify
    assert len(signature) == 4 + 64


origins = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1)
checkpoints = st.builds(
    Checkpoint,
    origin=origins,
    size=st.integers(0, 2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extension_lines=st.lists(origins, max_size=3).map(tuple),
)


@settings(max_examples=50)
@given(checkpoint=checkpoints)
def test_checkpoints_round_trip_through_a_signed_note(checkpoint: Checkpoint) -> None:
    text = format_checkpoint_text(checkpoint)
    assert parse_checkpoint_text(text) == checkpoint
    note = sign_checkpoint(checkpoint, SIGNER)
    assert open_checkpoint(note, [VERIFIER]) == checkpoint
    assert open_checkpoint(note.encode(), [VERIFIER]) == checkpoint


SIGNED_NOTE = sign_checkpoint(Checkpoint("example.gov/civitas", 1234, ROOT), SIGNER).encode()


@settings(max_examples=300)
@given(position=st.integers(0, len(SIGNED_NOTE) - 1), mask=st.integers(1, 255))
def test_changing_any_byte_of_a_signed_checkpoint_is_detected(position: int, mask: int) -> None:
    changed = bytearray(SIGNED_NOTE)
    changed[position] ^= mask
    # Canonical base64 leaves no byte whose change keeps the same signature, so there is no
    # "it opened, but as the same checkpoint" case: every change must be refused.
    with pytest.raises(ValueError):  # NoteError or CheckpointError
        open_checkpoint(bytes(changed), [VERIFIER])


def test_every_single_byte_change_is_detected_exhaustively_for_the_signature_line() -> None:
    start = SIGNED_NOTE.index(EM_DASH.encode())
    for position in range(start, len(SIGNED_NOTE)):
        for mask in (0x01, 0x02, 0x20, 0x80):
            changed = bytearray(SIGNED_NOTE)
            changed[position] ^= mask
            with pytest.raises(ValueError):
                open_checkpoint(bytes(changed), [VERIFIER])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("o\n01\n{root}\n", id="leading-zero"),
        pytest.param("o\n00\n{root}\n", id="double-zero"),
        pytest.param("o\n+1\n{root}\n", id="plus-sign"),
        pytest.param("o\n 1\n{root}\n", id="space"),
        pytest.param("o\n1.0\n{root}\n", id="decimal-point"),
        pytest.param("o\n\u0661\n{root}\n", id="non-ascii-digit"),
        pytest.param("o\n\n{root}\n", id="empty-size"),
        pytest.param("o\n18446744073709551616\n{root}\n", id="over-uint64"),
        pytest.param("\n1\n{root}\n", id="empty-origin"),
        pytest.param("o\n1\n{root}", id="no-final-newline"),
        pytest.param("o\n1\n", id="no-root"),
        pytest.param("o\n1\n{root}\n\n", id="empty-extension-line"),
        pytest.param("o\n1\n{short}\n", id="short-root"),
        pytest.param("o\n1\n{unpadded}\n", id="unpadded-root"),
        pytest.param("o\n1\n{noncanonical}\n", id="non-canonical-root"),
    ],
)
def test_malformed_checkpoint_texts_are_refused(text: str) -> None:
    encoded = base64.b64encode(ROOT).decode()
    values = {
        "root": encoded,
        "short": base64.b64encode(ROOT[:31]).decode(),
        "unpadded": encoded.rstrip("="),
        # The last character before "=" carries two unused bits; setting one changes no byte.
        "noncanonical": encoded[:-2] + chr(ord(encoded[-2]) + 1) + "=",
    }
    assert base64.b64decode(values["noncanonical"]) == ROOT
    with pytest.raises(CheckpointError):
        parse_checkpoint_text(text.format(**values))


def test_the_empty_tree_and_extension_lines_parse() -> None:
    text = f"o\n0\n{base64.b64encode(ROOT).decode()}\nextension one\nx\n"
    assert parse_checkpoint_text(text) == Checkpoint("o", 0, ROOT, ("extension one", "x"))


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", 2**64, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("tab\t",)),
    ],
)
def test_invalid_checkpoints_cannot_be_built(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin, size, root_hash, extensions)


# --- opening notes (C2SP signed-note, "Signatures") ----------------------------------------------

TEXT = format_checkpoint_text(Checkpoint("example.gov/civitas", 7, ROOT))
WITNESS = NoteSigner("witness.example", private_key(3))


def test_signatures_by_unknown_keys_are_skipped() -> None:
    note = sign_note(TEXT, WITNESS, SIGNER)
    assert open_note(note, [VERIFIER]) == (TEXT, ["example.gov/civitas"])
    assert open_note(note, [VERIFIER, WITNESS.verifier()]).key_names == [
        "witness.example",
        "example.gov/civitas",
    ]


def test_a_note_signed_only_by_unknown_keys_is_refused() -> None:
    with pytest.raises(NoteError, match="known key"):
        open_note(sign_note(TEXT, WITNESS), [VERIFIER])


def test_a_key_with_the_same_name_but_another_hash_is_unknown() -> None:
    impostor = NoteSigner(SIGNER.name, private_key(4))
    note = sign_note(TEXT, impostor, SIGNER)
    assert open_note(note, [VERIFIER]).key_names == [SIGNER.name]
    with pytest.raises(NoteError, match="known key"):
        open_note(sign_note(TEXT, impostor), [VERIFIER])


def test_a_bad_signature_by_a_known_key_rejects_the_note() -> None:
    forged_text = TEXT.replace("\n7\n", "\n8\n")
    signature_lines = sign_note(TEXT, SIGNER).split("\n\n", 1)[1]
    with pytest.raises(NoteError, match="does not verify"):
        open_note(forged_text + "\n" + signature_lines, [VERIFIER])
    # A repeated line by a known key is verified too, not skipped.
    good = sign_note(TEXT, SIGNER)
    bad_line = sign_note(forged_text, SIGNER).split("\n\n", 1)[1]
    with pytest.raises(NoteError, match="does not verify"):
        open_note(good + bad_line, [VERIFIER])


@pytest.mark.parametrize(
    "note",
    [
        pytest.param(TEXT, id="no-signature-block"),
        pytest.param(TEXT + "\n", id="empty-signature-block"),
        pytest.param(sign_note(TEXT, SIGNER)[:-1], id="no-final-newline"),
        pytest.param(sign_note(TEXT, SIGNER).replace(EM_DASH, "-"), id="hyphen-not-em-dash"),
        pytest.param(sign_note(TEXT, SIGNER).replace("/civitas ", "/civitas  "), id="two-spaces"),
        pytest.param(sign_note(TEXT, SIGNER).replace("\n7\n", "\n7\r\n"), id="carriage-return"),
        pytest.param(sign_note(TEXT, SIGNER) + "not a signature\n", id="garbage-line"),
        pytest.param(TEXT + f"\n{EM_DASH} example.gov/civitas AAAA\n", id="short-signature"),
        pytest.param(
            # A valid signature among 101: refused for the count alone.
            sign_note(TEXT, SIGNER) + f"{EM_DASH} unknown.example AAAAAAA=\n" * 100,
            id="too-many-signatures",
        ),
        pytest.param(b"\xff" + sign_note(TEXT, SIGNER).encode(), id="invalid-utf8"),
    ],
)
def test_malformed_notes_are_refused(note: str | bytes) -> None:
    with pytest.raises(NoteError):
        open_note(note, [VERIFIER])


def test_sign_note_refuses_texts_it_could_not_open() -> None:
    with pytest.raises(NoteError):
        sign_note("no final newline", SIGNER)
    with pytest.raises(NoteError):
        sign_note("bell\a\n", SIGNER)
    with pytest.raises(NoteError):
        sign_note(TEXT)
    with pytest.raises(NoteError):
        sign_note(TEXT, SIGNER, NoteSigner(SIGNER.name, private_key(1)))


def test_the_same_verifier_given_twice_counts_once() -> None:
    verifiers = [VERIFIER, SIGNER.verifier()]
    assert open_note(sign_note(TEXT, SIGNER), verifiers).key_names == [SIGNER.name]
