"""``civitas-verify``: check an export bundle, a receipt, or a live log.

Exit status: 0 when every check passes, 1 when any check fails, 2 on a usage or I/O error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from verifier.bundle import read_text_exactly, verify_bundle
from verifier.keyring import KeyringError, keyring_from_json
from verifier.live import Connection, verify_live
from verifier.note import NoteError, parse_verifier_key
from verifier.parallel import default_jobs
from verifier.progress import Progress
from verifier.receipt import verify_receipt
from verifier.report import Report, to_json, to_text
from verifier.state import VerifierState, default_state_dir
from verifier.trust import Pins
from verifier.witnesses import WitnessPolicy

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
API_KEY_VARIABLE = "CIVITAS_API_KEY"


class UsageError(Exception):
    pass


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civitas-verify",
        description="Independently verify a Civitas ledger: signatures, payload hashes, stream "
        "versions, Merkle roots and signed checkpoints.",
        epilog="Exit status: 0 all checks passed, 1 a check failed, 2 usage or I/O error.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    bundle = commands.add_parser("bundle", help="verify an export bundle folder")
    bundle.add_argument("folder", type=Path)
    receipt = commands.add_parser("receipt", help="verify one entry's receipt, offline")
    receipt.add_argument("file", type=Path)
    live = commands.add_parser("live", help="verify a running log through its AuditService")
    live.add_argument("--target", required=True, metavar="HOST:PORT")
    live.add_argument(
        "--api-key", help=f"an auditor account's API key (default: ${API_KEY_VARIABLE})"
    )
    live.add_argument("--ca-cert", type=Path, metavar="PEM", help="TLS: trust this CA")
    live.add_argument("--client-cert", type=Path, metavar="PEM", help="mTLS client certificate")
    live.add_argument("--client-key", type=Path, metavar="PEM", help="mTLS client key")
    live.add_argument(
        "--replay",
        action="store_true",
        help="also rebuild the transaction queue, citizen timeline and statistics from the "
        "entries' payloads "
        "and compare them with what the service serves",
    )
    for sub in (bundle, receipt, live):
        sub.add_argument(
            "--checkpoint-key",
            action="append",
            default=[],
            metavar="VKEY",
            help="pin the log's checkpoint key (note verifier key <name>+<hash>+<key>); repeatable",
        )
        sub.add_argument("--keyring", type=Path, metavar="FILE", help="pin this keyring.json")
        sub.add_argument(
            "--witness-key",
            action="append",
            default=[],
            metavar="VKEY",
            help="a witness's cosignature/v1 key (<name>+<hash>+<base64(0x04 || key)>); "
            "repeatable. The checkpoint must be cosigned by --witness-threshold of them",
        )
        sub.add_argument(
            "--witness-threshold",
            type=_positive,
            metavar="K",
            help="how many distinct witnesses must cosign (default: all --witness-key)",
        )
        sub.add_argument(
            "--max-cosignature-age",
            type=_positive,
            metavar="SECONDS",
            help="count only cosignatures at most this old: catches a log rolled back to an "
            "earlier witnessed checkpoint (the log has them refreshed every minute)",
        )
        sub.add_argument("--json", action="store_true", help="print the report as JSON")
    live.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where the checkpoint last verified per log is remembered, to catch a rollback "
        "on the next run (default: $XDG_STATE_HOME/civitas-verify, else "
        "~/.local/state/civitas-verify)",
    )
    live.add_argument(
        "--no-state", action="store_true", help="neither read nor remember a checkpoint"
    )
    bundle.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="hold the bundle to the checkpoint remembered here for its log (as live does), "
        "and remember its latest when every check passes",
    )
    for sub in (bundle, live):
        sub.add_argument(
            "--forget-state",
            action="store_true",
            help="replace the remembered checkpoint instead of holding the log to it: only "
            "after reading why the log was re-anchored",
        )
        sub.add_argument(
            "--trusted-checkpoint",
            type=Path,
            metavar="FILE",
            help="a checkpoint note kept earlier: the log must be consistent with it",
        )
        sub.add_argument(
            "--jobs", type=_positive, default=default_jobs(), help="worker processes (1: none)"
        )
    return parser


def _pins(arguments: argparse.Namespace) -> Pins:
    for vkey in arguments.checkpoint_key:
        try:
            parse_verifier_key(vkey)
        except NoteError as error:
            raise UsageError(f"--checkpoint-key: {error}") from None
    keyring = None
    if arguments.keyring is not None:
        try:
            keyring = keyring_from_json(json.loads(arguments.keyring.read_bytes()))
        except (KeyringError, ValueError) as error:
            raise UsageError(f"--keyring {arguments.keyring}: {error}") from None
    return Pins(
        keyring=keyring,
        checkpoint_keys=tuple(arguments.checkpoint_key),
        witnesses=_witness_policy(arguments),
    )


def _witness_policy(arguments: argparse.Namespace) -> WitnessPolicy | None:
    if not arguments.witness_key:
        if arguments.witness_threshold is not None or arguments.max_cosignature_age is not None:
            raise UsageError("--witness-threshold and --max-cosignature-age need --witness-key")
        return None
    try:
        return WitnessPolicy.of(
            arguments.witness_key, arguments.witness_threshold, arguments.max_cosignature_age
        )
    except NoteError as error:
        raise UsageError(f"--witness-key: {error}") from None


def _trusted(arguments: argparse.Namespace) -> str | None:
    path: Path | None = arguments.trusted_checkpoint
    return None if path is None else read_text_exactly(path)


def _state(arguments: argparse.Namespace) -> VerifierState | None:
    folder: Path | None = arguments.state_dir
    if arguments.command == "live" and folder is None and not arguments.no_state:
        folder = default_state_dir()
    if arguments.command == "live" and arguments.no_state:
        folder = None
    return None if folder is None else VerifierState(folder, forget=arguments.forget_state)


def _read_optional(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def _run(arguments: argparse.Namespace) -> Report:
    pins = _pins(arguments)
    if arguments.command == "bundle":
        return verify_bundle(
            arguments.folder,
            pins=pins,
            trusted_checkpoint=_trusted(arguments),
            jobs=arguments.jobs,
            progress=Progress(f"verifying {arguments.folder}"),
            state=_state(arguments),
        )
    if arguments.command == "receipt":
        try:
            document = json.loads(arguments.file.read_bytes())
        except ValueError:
            document = None  # a damaged receipt is a failed check, not a usage error
        return verify_receipt(document, pins=pins, subject=str(arguments.file))
    if arguments.client_cert is not None and arguments.ca_cert is None:
        raise UsageError("--client-cert needs --ca-cert (mTLS runs over TLS)")
    connection = Connection(
        target=arguments.target,
        api_key=arguments.api_key or os.environ.get(API_KEY_VARIABLE),
        ca_cert=_read_optional(arguments.ca_cert),
        client_cert=_read_optional(arguments.client_cert),
        client_key=_read_optional(arguments.client_key),
    )
    return verify_live(
        connection,
        pins=pins,
        trusted_checkpoint=_trusted(arguments),
        jobs=arguments.jobs,
        progress=Progress(f"verifying {arguments.target}"),
        replay=arguments.replay,
        state=_state(arguments),
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        report = _run(arguments)
    except (OSError, UnicodeDecodeError, UsageError) as error:  # LiveError is an OSError
        print(f"civitas-verify: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(to_json(report) if arguments.json else to_text(report))
    return EXIT_OK if report.ok else EXIT_FAILED
