"""``civitas-witness``: make a witness key, print it, serve add-checkpoint.

    civitas-witness init --data DIR --name witness.example/w1
    civitas-witness key --data DIR
    civitas-witness serve --data DIR --listen 127.0.0.1:7380 --log-key <log's note verifier key>

A log's origin is its key's name (as Civitas names its checkpoint key after its origin).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witness.note import (
    Cosigner,
    LogKey,
    NoteError,
    parse_log_key,
    parse_signer_key,
    signer_key_string,
    valid_key_name,
)
from witness.server import WitnessServer
from witness.state import StateStore
from witness.witness import Witness

KEY_FILE = "witness.key"
STATE_DIR = "state"
EXIT_OK, EXIT_USAGE = 0, 2


class UsageError(Exception):
    pass


def _init(arguments: argparse.Namespace) -> int:
    folder: Path = arguments.data
    if not valid_key_name(arguments.name):
        raise UsageError(f"--name {arguments.name!r}: no spaces and no '+'")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    try:
        # O_EXCL: never replace a witness's key; its old cosignatures would be orphaned.
        descriptor = os.open(folder / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{folder / KEY_FILE} exists already") from None
    try:
        os.write(descriptor, (signer_key_string(arguments.name, private_key) + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    print(Cosigner(arguments.name, private_key).verifier_key)
    return EXIT_OK


def load_cosigner(folder: Path) -> Cosigner:
    path = folder / KEY_FILE
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"{path} is readable by others: chmod 600 it")
    try:
        return parse_signer_key(path.read_text(encoding="ascii"))
    except (NoteError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: {error}") from None


def _key(arguments: argparse.Namespace) -> int:
    print(load_cosigner(arguments.data).verifier_key)
    return EXIT_OK


def _logs(vkeys: Sequence[str]) -> dict[str, list[LogKey]]:
    logs: dict[str, list[LogKey]] = {}
    for vkey in vkeys:
        try:
            key = parse_log_key(vkey)
        except NoteError as error:
            raise UsageError(f"--log-key: {error}") from None
        logs.setdefault(key.name, []).append(key)
    if not logs:
        raise UsageError("give at least one --log-key")
    return logs


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise UsageError(f"--listen {text!r}: HOST:PORT") from None


def _serve(arguments: argparse.Namespace) -> int:
    cosigner = load_cosigner(arguments.data)
    witness = Witness(cosigner, _logs(arguments.log_key), StateStore(arguments.data / STATE_DIR))
    host, port = _address(arguments.listen)
    server = WitnessServer((host, port), witness)
    port = server.server_port  # the one picked when 0 was asked for
    print(f"civitas-witness {cosigner.name} listening on http://{host}:{port}", flush=True)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    thread = threading.Thread(target=server.serve_forever, name="witness-http", daemon=True)
    thread.start()
    stopping.wait()
    server.shutdown()
    server.server_close()
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civitas-witness", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="make the witness key (once)")
    init.add_argument("--name", required=True, help="the witness's name, e.g. witness.example/w1")
    init.set_defaults(run=_init)
    key = commands.add_parser("key", help="print the witness's verifier key")
    key.set_defaults(run=_key)
    serve = commands.add_parser("serve", help="serve POST /add-checkpoint")
    serve.add_argument("--listen", default="127.0.0.1:7380", metavar="HOST:PORT")
    serve.add_argument(
        "--log-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a log's checkpoint key (note verifier key); its name is the log's origin",
    )
    serve.set_defaults(run=_serve)
    for command in (init, key, serve):
        command.add_argument("--data", type=Path, required=True, help="the witness's folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    arguments = _parser().parse_args(argv)
    try:
        code: int = arguments.run(arguments)
    except (UsageError, OSError) as error:
        print(f"civitas-witness: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code
